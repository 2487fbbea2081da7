#!/usr/bin/env bash
# deb-test.sh - the Debian packages, end to end (make deb-test; README
# "Deploying on a host"):
#   1. `make deb` in a clean clone of this tree's HEAD
#   2. lintian: no error, no warning that is not overridden with its reason
#   3. dpkg -i of the four packages: users, group, state directory
#   4. systemd-analyze verify of both units (no running systemd needed)
#   5. isoreg@NAME's own ExecStart line, run by hand as root: the segment's
#      owner, group, mode, capacity, event ring and default config; run
#      again, it leaves the live segment alone; a bad line is refused with
#      its number; the state file is applied to a segment made by the unit
#   6. isoreg-exporter@NAME's ExecStart line, as isoreg-exporter with the
#      unit's environment, no new privileges and /dev/shm read-only (as
#      ReadOnlyPaths= makes it): /metrics and /healthz on loopback
#   7. the -dev package builds a program with pkg-config; the Python binding
#      loads the system's libisoreg.so.0
#   8. dpkg --purge: nothing of the packages left, segments untouched
# Needs root (dpkg). Refuses to run if isoreg packages are installed already
# (it would remove them). Users, group and /var/lib/isoreg it created are
# removed again at the end. Ends with "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/../.."
repo=$PWD
# The installed packages with their defaults: /var/lib/isoreg, /NAME, the
# caller's own trust (run-tests.sh points ISOREG_STATE_DIR at its logs).
unset ISOREG_STATE_DIR ISOREG_SEGMENT ISOREG_OWNER ISOREG_MODE
pass=0; fail=0
ok()  { pass=$((pass + 1)); echo "  ok    $*"; }
bad() { fail=$((fail + 1)); echo "  FAIL  $*"; }
check() { # $1 = what, rest = command
  local what=$1; shift
  if "$@" >"$tmp/check.out" 2>&1; then ok "$what"; else bad "$what"; sed 's/^/        /' "$tmp/check.out" | tail -n 20; fi
}

if [ "$(id -u)" -ne 0 ]; then
  echo "deb-test: needs root (dpkg -i, the units' command lines as their users)" >&2
  echo "0 passed, 1 failed"; exit 1
fi
pkgs=(libisoreg0 libisoreg-dev isoreg-tools python3-isoreg)
for p in "${pkgs[@]}"; do
  if [ "$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)" = "install ok installed" ]; then
    echo "deb-test: $p is installed on this machine; this test would remove it. Remove it first." >&2
    echo "0 passed, 1 failed"; exit 1
  fi
done

tmp=$(mktemp -d)
chmod 0755 "$tmp"
name=isoreg-debtest-$$          # the segment /NAME and /etc/isoreg/NAME.conf
exporter_pid=
had_user=$(getent passwd isoreg >/dev/null && echo 1)
had_exp=$(getent passwd isoreg-exporter >/dev/null && echo 1)
had_group=$(getent group isoreg >/dev/null && echo 1)
had_state=$([ -e /var/lib/isoreg ] && echo 1)
had_etc=$([ -e /etc/isoreg ] && echo 1)
installed=

cleanup() {
  [ -n "$exporter_pid" ] && kill "$exporter_pid" 2>/dev/null && wait "$exporter_pid" 2>/dev/null
  rm -f "/dev/shm/$name" "/dev/shm/$name-bad"
  rm -f "/etc/isoreg/$name.conf" "/etc/isoreg/$name-bad.conf" "/var/lib/isoreg/$name.state"
  if [ -n "$installed" ]; then
    dpkg --purge "${pkgs[@]}" >/dev/null 2>&1
  fi
  [ -z "$had_exp" ] && getent passwd isoreg-exporter >/dev/null && userdel isoreg-exporter 2>/dev/null
  [ -z "$had_exp" ] && getent group isoreg-exporter >/dev/null && groupdel isoreg-exporter 2>/dev/null
  [ -z "$had_user" ] && getent passwd isoreg >/dev/null && userdel isoreg 2>/dev/null
  [ -z "$had_group" ] && getent group isoreg >/dev/null && groupdel isoreg 2>/dev/null
  [ -z "$had_state" ] && rm -rf /var/lib/isoreg
  [ -z "$had_etc" ] && rmdir /etc/isoreg 2>/dev/null
  rm -rf "$tmp"
}
trap cleanup EXIT

# The unit's ExecStart line for instance $2 (%i), ${LISTEN} from $3.
exec_line() { # $1 = unit file, $2 = instance, $3 = listen address
  sed -n 's/^ExecStart=//p' "$1" | sed -e "s|%i|$2|g" -e "s|\${LISTEN}|$3|g"
}

echo "== 1. make deb in a clean clone of HEAD ($(git rev-parse --short HEAD))"
[ -n "$(git status --porcelain --untracked-files=no)" ] &&
  echo "  note: the tree has uncommitted changes; the clone builds HEAD without them"
git clone -q "$repo" "$tmp/clone"
start=$(date +%s)
if make -C "$tmp/clone" --no-print-directory deb DEB_OUT=build-deb >"$tmp/deb.log" 2>&1; then
  ok "make deb ($(( $(date +%s) - start )) s)"
else
  bad "make deb"; tail -n 30 "$tmp/deb.log"
  echo; echo "$pass passed, $fail failed"; exit 1
fi
out=$tmp/clone/build-deb
debs=()
for p in "${pkgs[@]}"; do
  f=$(ls "$out/${p}"_*.deb 2>/dev/null | head -n 1)
  if [ -n "$f" ]; then debs+=("$f"); ok "built $(basename "$f")"; else bad "no $p package"; fi
done

echo "== 2. lintian"
lintian --fail-on error,warning "$out"/*.changes >"$tmp/lintian.log" 2>&1
rc=$?
sed 's/^/        /' "$tmp/lintian.log"
if [ "$rc" -eq 0 ]; then ok "lintian: no errors, no unexplained warnings"; else bad "lintian (exit $rc)"; fi

echo "== 3. dpkg -i"
installed=1
if dpkg -i "${debs[@]}" >"$tmp/dpkg.log" 2>&1; then ok "dpkg -i ${pkgs[*]}"; else bad "dpkg -i"; cat "$tmp/dpkg.log"; fi
check "user isoreg, group isoreg" sh -c 'getent passwd isoreg && getent group isoreg'
check "isoreg-exporter is in group isoreg" sh -c 'id -nG isoreg-exporter | tr " " "\n" | grep -qx isoreg'
check "/var/lib/isoreg: isoreg isoreg 755" sh -c '[ "$(stat -c "%U %G %a" /var/lib/isoreg)" = "isoreg isoreg 755" ]'
check "no generic trader in /usr/bin" sh -c '! [ -e /usr/bin/trader ] && ! dpkg -S bin/trader 2>/dev/null'

unitdir=/lib/systemd/system
echo "== 4. systemd-analyze verify"
for u in "isoreg@$name.service" "isoreg-exporter@$name.service"; do
  # A template is verified through an instance: a link named for it.
  t=${u%%@*}@.service
  ln -sf "$unitdir/$t" "$tmp/$u"
  if systemd-analyze verify "$tmp/$u" >"$tmp/verify.log" 2>&1 && ! grep -q . "$tmp/verify.log"; then
    ok "systemd-analyze verify $t"
  else
    bad "systemd-analyze verify $t"; sed 's/^/        /' "$tmp/verify.log"
  fi
  rm -f "$tmp/$u"
done

echo "== 5. isoreg@$name: its ExecStart, by hand"
cat >"/etc/isoreg/$name.conf" <<'EOF'
# deb-test
capacity = 1000
events = 256
owner = isoreg
group = isoreg
mode = 0640
failure_threshold = 7
EOF
create=$(exec_line "$unitdir/isoreg@.service" "$name" "")
echo "  \$ $create"
# shellcheck disable=SC2086
check "creates /$name" $create
check "owner isoreg, group isoreg, mode 0640" sh -c "[ \"\$(stat -c '%U %G %a' /dev/shm/$name)\" = 'isoreg isoreg 640' ]"
info() { runuser -u isoreg -- isoctl --segment "/$name" info; }
info >"$tmp/info" 2>&1
check "capacity 1000" grep -qE '^capacity +1000 accounts' "$tmp/info"
check "event ring 256" grep -qE '^event ring +256 events' "$tmp/info"
check "default failure_threshold 7" grep -qE 'failure_threshold=7$' "$tmp/info"
ino=$(stat -c %i "/dev/shm/$name")
# shellcheck disable=SC2086
$create >"$tmp/again" 2>&1; rc=$?
sed 's/^/        /' "$tmp/again"
check "run again: exit 0, 'exists', same segment" sh -c "[ $rc -eq 0 ] && grep -q '^exists /$name' $tmp/again && [ \$(stat -c %i /dev/shm/$name) = $ino ]"
printf 'capacity = 1000\nfailure_treshold = 3\n' >"/etc/isoreg/$name-bad.conf"
badcmd=$(exec_line "$unitdir/isoreg@.service" "$name-bad" "")
# shellcheck disable=SC2086
$badcmd >"$tmp/bad" 2>&1; rc=$?
sed 's/^/        /' "$tmp/bad"
check "a bad line: exit 2, line 2 named, nothing created" sh -c "[ $rc -eq 2 ] && grep -q 'line 2: failure_treshold' $tmp/bad && ! [ -e /dev/shm/$name-bad ]"
# The operators' state, applied to a segment the unit creates.
runuser -u isoreg -- isoctl --segment "/$name" register user/u1/KRAKEN >/dev/null 2>&1
runuser -u isoreg -- isoctl --segment "/$name" halt user/u1/KRAKEN --reason deb-test >/dev/null 2>&1
runuser -u isoreg -- isoctl --segment "/$name" unlink >/dev/null 2>&1
# shellcheck disable=SC2086
$create >/dev/null 2>&1
check "halt recorded in /var/lib/isoreg/$name.state" grep -q '^halt user/u1/KRAKEN ' "/var/lib/isoreg/$name.state"
check "state file applied at creation (halt kept)" sh -c "runuser -u isoreg -- isoctl --segment /$name status user/u1/KRAKEN | tee /dev/stderr | grep -qi 'halted'"

echo "== 6. isoreg-exporter@$name: its ExecStart, sandboxed by hand"
port=$(( 20000 + $$ % 20000 ))
serve=$(exec_line "$unitdir/isoreg-exporter@.service" "$name" "127.0.0.1:$port")
envs=$(sed -n 's/^Environment=//p' "$unitdir/isoreg-exporter@.service" | sed "s/LISTEN=[^ ]*//")
echo "  \$ env $envs $serve"
# As the unit: its user and groups, no new privileges, /dev/shm read-only.
# shellcheck disable=SC2086
unshare -m sh -c "mount -o remount,bind,ro /dev/shm && exec setpriv --reuid isoreg-exporter --regid isoreg-exporter --init-groups --no-new-privs env $envs $serve" \
  >"$tmp/serve.log" 2>&1 &
exporter_pid=$!
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
curl -s "http://127.0.0.1:$port/metrics" >"$tmp/metrics" 2>&1
check "/metrics: isoreg_up 1" grep -qE '^isoreg_up(\{[^}]*\})? 1$' "$tmp/metrics"
check "/metrics: the halted account" grep -q 'account_id="u1"' "$tmp/metrics"
check "/healthz: 200" sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' http://127.0.0.1:$port/healthz)\" = 200 ]"
check "runs as isoreg-exporter" sh -c "[ \"\$(ps -o user= -p $exporter_pid | tr -d ' ')\" = isoreg-exporter ]"
kill "$exporter_pid" 2>/dev/null; wait "$exporter_pid" 2>/dev/null; exporter_pid=

echo "== 7. libisoreg-dev and python3-isoreg"
cat >"$tmp/app.c" <<'EOF'
#include <isoreg.h>
#include <stdio.h>
int main(int argc, char **argv)
{
	iso_reg_t *reg;
	struct iso_segment_info in;
	struct iso_attach_opts o = { .flags = ISO_ATTACH_RDONLY };
	if (argc < 2 || iso_attach(argv[1], &o, &reg) < 0 ||
	    iso_segment_info(reg, &in) < 0)
		return 1;
	printf("%u\n", in.capacity);
	iso_detach(reg);
	return 0;
}
EOF
# shellcheck disable=SC2046
check "cc app.c \$(pkg-config --cflags --libs isoreg)" cc -o "$tmp/app" "$tmp/app.c" $(pkg-config --cflags --libs isoreg)
check "it runs against libisoreg.so.0 (capacity 1000)" sh -c "[ \"\$(runuser -u isoreg -- $tmp/app /$name | tee /dev/stderr)\" = 1000 ] && ldd $tmp/app | tee /dev/stderr | grep -q 'libisoreg.so.0 => /'"
check "python3: import isoreg loads the system's libisoreg.so.0" sh -c "cd / && /usr/bin/python3 -c 'import isoreg._native as n; print(n.LIB_PATH)' | tee /dev/stderr | grep -qx 'libisoreg.so.0'"
check "python3: it reads the segment (capacity 1000)" sh -c "cd / && runuser -u isoreg -- /usr/bin/python3 -c 'import isoreg; m = isoreg.AccountIsolationManager(segment=\"/$name\", read_only=True); print(m.segment_info().capacity)' | grep -qx 1000"

echo "== 8. dpkg --purge"
ino=$(stat -c %i "/dev/shm/$name")
rm -f "/etc/isoreg/$name.conf" "/etc/isoreg/$name-bad.conf"
if dpkg --purge "${pkgs[@]}" >"$tmp/purge.log" 2>&1; then ok "dpkg --purge"; else bad "dpkg --purge"; cat "$tmp/purge.log"; fi
installed=
left=()
for f in /usr/bin/isoctl /usr/bin/isotop /usr/bin/isosim "$unitdir/isoreg@.service" \
         "$unitdir/isoreg-exporter@.service" /usr/lib/sysusers.d/isoreg-tools.conf \
         /usr/lib/tmpfiles.d/isoreg-tools.conf /usr/include/isoreg.h /etc/isoreg; do
  [ -e "$f" ] && left+=("$f")
done
ls /usr/lib/*/libisoreg* /usr/lib/python3/dist-packages/isoreg >/dev/null 2>&1 && left+=(libisoreg or the binding)
check "nothing left: ${left[*]:-}" test ${#left[@]} -eq 0
check "the live segment survived the purge" sh -c "[ \$(stat -c %i /dev/shm/$name) = $ino ]"

echo
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
