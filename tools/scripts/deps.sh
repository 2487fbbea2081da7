#!/usr/bin/env bash
# deps.sh - make sure the Debian packages isoreg builds and tests with are
# installed. As root it installs what is missing with apt-get; otherwise it
# prints the exact command to run and fails.
#
#   tools/scripts/deps.sh [build|test|demo|bench|deb]
#   tools/scripts/deps.sh aarch64 DIR
#
# aarch64 (make test-aarch64): installs the cross compiler and adds the arm64
# architecture to dpkg, then fills DIR with what the cross build and its run
# need, without installing any of it:
#   DIR/sysroot  the arm64 -dev packages isoreg links with (liburcu, ck,
#                Criterion, xxhash, libc, and all they pull), unpacked. On
#                bookworm they cannot be installed beside the amd64 ones:
#                libck0 is not Multi-Arch: same and libnanomsg's amd64 binNMU
#                differs from arm64, so apt would remove the amd64 libck-dev
#                and libcriterion-dev that the native build needs. The list is
#                the closure apt computes for the :arm64 packages.
#   DIR/qemu     qemu-aarch64 from the release's backports (qemu-user 10),
#                unpacked: bookworm's qemu-user 7.2 aborts when a threaded
#                guest forks and the child starts a thread, which every fork
#                test does (liburcu's call_rcu thread).
set -euo pipefail

# apt-get with a private source list and state, for one suite: the system's
# sources and package lists stay as they are. Root's downloads stay root's
# (apt's _apt user cannot write into a mktemp directory).
apt_private() { # $1 = state dir, $2 = suite, rest = apt-get arguments
  local st=$1 suite=$2; shift 2
  mkdir -p "$st/lists/partial" "$st/cache/archives/partial"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]" \
       "http://deb.debian.org/debian $suite main" >"$st/sources.list"
  apt-get -qq -o Dir::Etc::SourceList="$st/sources.list" \
    -o Dir::Etc::SourceParts=/nonexistent -o Dir::State::Lists="$st/lists" \
    -o Dir::Cache="$st/cache" -o APT::Architectures::=amd64 \
    -o APT::Sandbox::User=root "$@"
}

aarch64_deps() { # $1 = directory for the sysroot and qemu
  local dir=$1 host=(make gcc-aarch64-linux-gnu binutils-aarch64-linux-gnu)
  local arm=(libc6-dev:arm64 liburcu-dev:arm64 libck-dev:arm64
             libcriterion-dev:arm64 libxxhash-dev:arm64)
  local missing=() cmds=() p s c
  for p in "${host[@]}"; do
    s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    [ "$s" = "install ok installed" ] || missing+=("$p")
  done
  local arch=""
  dpkg --print-foreign-architectures | grep -qx arm64 ||
    { arch="the arm64 architecture in dpkg"; cmds+=("dpkg --add-architecture arm64"); }
  if [ ${#missing[@]} -gt 0 ] || [ ${#cmds[@]} -gt 0 ]; then
    cmds+=("apt-get update")
    [ ${#missing[@]} -gt 0 ] &&
      cmds+=("apt-get install -y --no-install-recommends ${missing[*]}")
    if [ "$(id -u)" -ne 0 ]; then
      echo "isoreg: the aarch64 build needs:" \
           "${missing[*]:-}${arch:+${missing[*]:+ and }$arch}" >&2
      echo "isoreg: run this, then try again:" >&2
      for c in "${cmds[@]}"; do echo "  sudo $c" >&2; done
      exit 1
    fi
    export DEBIAN_FRONTEND=noninteractive
    for c in "${cmds[@]}"; do
      echo "isoreg: $c" >&2
      $c >&2 || { echo "isoreg: '$c' failed" >&2; exit 1; }
    done
  fi

  local tmp
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT

  if [ ! -f "$dir/sysroot/.isoreg-sysroot" ]; then
    local pkgs
    pkgs=$(apt-get -s install --no-install-recommends "${arm[@]}" 2>&1 |
           awk '$1 == "Inst" && $2 ~ /:arm64$/ {print $2}') || true
    if ! grep -qx 'libcriterion-dev:arm64' <<<"$pkgs"; then
      echo "isoreg: apt cannot resolve the arm64 packages ${arm[*]}:" >&2
      apt-get -s install --no-install-recommends "${arm[@]}" >&2 || true
      echo "isoreg: does 'apt-get update' reach an arm64 mirror?" >&2
      exit 1
    fi
    # shellcheck disable=SC2086
    (cd "$tmp" && apt-get download -qq -o APT::Sandbox::User=root $pkgs) >&2 ||
      { echo "isoreg: downloading the arm64 packages failed" >&2; exit 1; }
    rm -rf "$dir/sysroot.part" && mkdir -p "$dir/sysroot.part"
    for p in "$tmp"/*.deb; do dpkg-deb -x "$p" "$dir/sysroot.part"; done
    echo "$pkgs" >"$dir/sysroot.part/.isoreg-sysroot"
    rm -rf "$dir/sysroot" "$tmp"/*.deb && mv "$dir/sysroot.part" "$dir/sysroot"
    echo "isoreg: arm64 sysroot in $dir/sysroot ($(wc -l <"$dir/sysroot/.isoreg-sysroot") packages)" >&2
  fi

  if [ ! -x "$dir/qemu/qemu-aarch64" ]; then
    local suite
    # shellcheck disable=SC1091
    suite=$(. /etc/os-release && echo "$VERSION_CODENAME")-backports
    if ! apt_private "$tmp/apt" "$suite" update >&2 ||
       ! (cd "$tmp" && apt_private "$tmp/apt" "$suite" download qemu-user) >&2; then
      echo "isoreg: could not fetch qemu-user from $suite" >&2
      exit 1
    fi
    mkdir -p "$dir/qemu"
    dpkg-deb --fsys-tarfile "$tmp"/qemu-user_*.deb |
      tar -x -O ./usr/bin/qemu-aarch64 >"$dir/qemu/qemu-aarch64.part"
    chmod 755 "$dir/qemu/qemu-aarch64.part"
    mv "$dir/qemu/qemu-aarch64.part" "$dir/qemu/qemu-aarch64"
    echo "isoreg: $("$dir/qemu/qemu-aarch64" --version | head -n1) in $dir/qemu" >&2
  fi
  exit 0
}

if [ "${1:-build}" = aarch64 ]; then
  [ $# -eq 2 ] || { echo "usage: $0 aarch64 DIR" >&2; exit 2; }
  aarch64_deps "$2"
fi

want=(make gcc pkg-config liburcu-dev libck-dev libcriterion-dev
      libncurses-dev libjson-c-dev libmicrohttpd-dev libxxhash-dev
      zlib1g-dev libgnutls28-dev libyaml-dev libcrypt-dev
      python3-dev python3-setuptools)
case "${1:-build}" in
  test) want+=(tmux curl openssl clang libclang-rt-14-dev valgrind prometheus python3 python3-wheel
               util-linux procps) ;;
  demo) want+=(tmux) ;;
  # make deb / deb-test: Debian's packaging tools, lintian, systemd-analyze
  # (the systemd package; nothing needs it running), curl for /metrics.
  deb) want+=(dpkg-dev debhelper dh-python python3-all-dev fakeroot lintian
              systemd curl git) ;;
  # python_bench's peer (issue 17): Debian's circuit breaker for Python.
  bench) want+=(python3 python3-circuitbreaker) ;;
esac

missing=()
for p in "${want[@]}"; do
  s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [ "$s" = "install ok installed" ] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

echo "isoreg: missing Debian packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
else
  echo "isoreg: run this, then try again:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
