# isoreg - top-level Makefile.
#
#   make            library, tools, tests and benches (into $(BUILD))
#   make test       install missing packages, build, run the whole suite:
#                   plain, ASan+UBSan, TSan on the threaded tests, aarch64
#   make test-aarch64  cross-build for aarch64 into build-aarch64 and run the
#                   breaker, registry and multiproc suites under qemu-user
#   make demo       the demo fleet (isosim) watched in isotop
#   make bench      the measurement harnesses (and the Python binding's)
#   make python     the Python binding: extension module + libisoreg.so
#   make install    PREFIX=/usr/local DESTDIR=
#   make deb        Debian packages (dpkg-buildpackage) into build-deb/
#   make deb-test   build them from a clean clone, lintian, install, check
#                   the units and their command lines, purge
#
# Quiet unless V=1. Several builds can live side by side: BUILD=build-x.
# SANITIZE=address,undefined or SANITIZE=thread builds instrumented code.

PREFIX  ?= /usr/local
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
BINDIR  ?= $(PREFIX)/bin
MANDIR  ?= $(PREFIX)/share/man
DESTDIR ?=
BUILD   ?= build
CC      ?= cc
SANITIZE ?=

VERSION := $(shell sed -n 's/^\#define ISO_VERSION_\(MAJOR\|MINOR\|PATCH\) \([0-9]*\)/\2/p' include/isoreg.h | paste -sd.)

ifeq ($(V),1)
Q :=
else
Q := @
endif

OPT     ?= -O2
CFLAGS  ?= $(OPT) -g
WARN    := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CPPFLAGS_ISO := -Iinclude -Isrc -D_GNU_SOURCE
# The breaker word is 128 bits, changed by one double-width CAS [B4]. On
# x86-64 that is cmpxchg16b, which needs -mcx16; aarch64's baseline
# LDXP/STXP pair (ck's default, no LSE) needs no flag.
ISO_MACHINE := $(shell $(CC) -dumpmachine 2>/dev/null | cut -d- -f1)
ARCHFLAGS := $(if $(filter x86_64 i386 i486 i586 i686,$(ISO_MACHINE)),-mcx16)
ifneq ($(SANITIZE),)
SANFLAGS := -fsanitize=$(SANITIZE) -fno-omit-frame-pointer -fno-sanitize-recover=all
endif
# CPPFLAGS and LDFLAGS from the environment (dpkg-buildflags: fortify,
# relro, bindnow) reach every compile and link.
ALLCFLAGS := -std=c11 $(CFLAGS) $(CPPFLAGS) $(WARN) $(ARCHFLAGS) $(CPPFLAGS_ISO) $(SANFLAGS) -fPIC -pthread

LIB_LIBS   := -lurcu-bp -lurcu-cds -lurcu-common -lpthread -lrt
# The exporter (isoctl serve): zlib for gzip, GnuTLS (libmicrohttpd's TLS)
# for certificates, libyaml for --web.config.file, libxcrypt for bcrypt.
TOOL_LIBS  := -lncursesw -ljson-c -lmicrohttpd -lgnutls -lyaml -lcrypt -lz -lm
# libcrypt: the exporter tests make bcrypt hashes (tests/support); zlib only
# where test_exporter.c (it links the renderer and its gzip) is built
# ("=": TESTS is set below).
TEST_LIBS   = -lcriterion -lcrypt -lm $(if $(filter tests/test_exporter.c,$(TESTS)),-lz)
BENCH_LIBS := -lz -lm

LIB_SRC  := $(wildcard src/*.c)
LIB_OBJ  := $(LIB_SRC:%.c=$(BUILD)/%.o)
LIB_A    := $(BUILD)/libisoreg.a
LIB_SO   := $(BUILD)/libisoreg.so
PC       := $(BUILD)/isoreg.pc

TOOLS        := $(notdir $(patsubst %/,%,$(dir $(wildcard tools/*/main.c))))
TOOL_COMMON  := $(wildcard tools/common/*.c)
TOOL_BINS    := $(TOOLS:%=$(BUILD)/bin/%)
# What `make install` puts in $(BINDIR): the tools, and the example trader
# under a name of its own (never a generic "trader").
INST_TOOLS   := $(filter-out trader,$(TOOLS))
TRADER_NAME  := isoreg-trader-example
# The objects of tool $(1): every .c in tools/$(1)/.
tool_objs     = $(patsubst %.c,$(BUILD)/%.o,$(wildcard tools/$(1)/*.c))

# TESTS= narrows the test binary to some files (a helper's own, say).
TESTS        ?= $(wildcard tests/test_*.c)
TEST_SRC     := $(TESTS) $(wildcard tests/support/*.c)
TEST_BIN     := $(BUILD)/tests/isoreg_tests

# The kill-and-stall harness [R6]: its own Criterion binary, linked with a
# build of the library that has failpoints compiled in (src/failpoint.h).
# Shipped libraries, tools and benches never carry them.
FP_OBJ       := $(LIB_SRC:%.c=$(BUILD)/fp/%.o)
FP_LIB       := $(BUILD)/fp/libisoreg.a
KP_SRC       := $(wildcard tests/killpoints/*.c) $(wildcard tests/support/*.c)
KP_BIN       := $(BUILD)/tests/isoreg_killpoints

# Threaded stress programs: plain programs, not Criterion, because
# Criterion cannot start under ThreadSanitizer (Snaipe/Criterion#274).
THREAD_SRC   := $(wildcard tests/threads/*.c)
THREAD_BINS  := $(THREAD_SRC:tests/threads/%.c=$(BUILD)/threads/%)

BENCH_SRC    := $(wildcard bench/bench_*.c)
BENCH_COMMON := $(wildcard bench/common/*.c)
BENCH_BINS   := $(BENCH_SRC:bench/%.c=$(BUILD)/bench/%)

.PHONY: threads all lib tools tests benches test test-aarch64 check-all bench demo install uninstall clean deps python python-ext fuzz chaos deb deb-test
.DEFAULT_GOAL := all
# Keep objects that pattern rules make on the way, so tools are not relinked
# from scratch on every build.
.SECONDARY:

all: lib tools tests benches threads

lib: $(LIB_A) $(LIB_SO) $(PC)
tools: $(TOOL_BINS)
tests: $(TEST_BIN) $(KP_BIN)
benches: $(BENCH_BINS)
threads: $(THREAD_BINS)

deps:
	$(Q)tools/scripts/deps.sh build

# A tool's objects are named from its directory ($$(call tool_objs,...)).
.SECONDEXPANSION:

# Each object depends on exactly the headers it includes: the compiler
# writes them into a .d file beside it (-MMD), with an empty rule for each
# header (-MP) so a deleted header does not break the build.
DEPFLAGS := -MMD -MP

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC    $<")
	$(Q)$(CC) $(ALLCFLAGS) $(DEPFLAGS) -c -o $@ $<

# The exporter's renderer, built once: isoctl, its test and its bench link
# the same objects. The hostile-neighbours tests link the tools' guard and
# their option helpers the same way.
EXPORTER_OBJ := $(BUILD)/tools/isoctl/metrics.o $(BUILD)/tools/isoctl/snapshot.o
HOSTILE_OBJ  := $(BUILD)/tools/common/busguard.o $(BUILD)/tools/common/cli.o
TEST_EXTRA    = $(if $(filter tests/test_exporter.c,$(TESTS)),$(EXPORTER_OBJ)) \
		$(if $(filter tests/test_hostile.c,$(TESTS)),$(HOSTILE_OBJ))
$(BUILD)/bench/bench_exporter: $(EXPORTER_OBJ)

$(BUILD)/fp/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-FP $<")
	$(Q)$(CC) $(ALLCFLAGS) $(DEPFLAGS) -DISO_FAILPOINTS -c -o $@ $<

$(FP_LIB): $(FP_OBJ)
	@$(if $(Q),echo "  AR    $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(KP_BIN): $(KP_SRC:%.c=$(BUILD)/fp/%.o) $(FP_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(SANFLAGS) -pthread -o $@ $^ $(FP_LIB) $(TEST_LIBS) $(LIB_LIBS)

$(LIB_A): $(LIB_OBJ)
	@$(if $(Q),echo "  AR    $@")
	$(Q)rm -f $@ && $(AR) rcs $@ $^

$(LIB_SO): $(LIB_OBJ)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) -shared $(LDFLAGS) $(SANFLAGS) -pthread -Wl,-soname,libisoreg.so.$(word 1,$(subst ., ,$(VERSION))) -o $@ $^ $(LIB_LIBS)
	@# The soname's link, so programs linked here run from the build tree.
	$(Q)ln -sf libisoreg.so $(BUILD)/libisoreg.so.$(word 1,$(subst ., ,$(VERSION)))

$(PC): isoreg.pc.in include/isoreg.h
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	     -e 's|@VERSION@|$(VERSION)|' $< > $@

$(BUILD)/bin/%: $$(call tool_objs,$$*) $(TOOL_COMMON:%.c=$(BUILD)/%.o) $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(LDFLAGS) $(SANFLAGS) -pthread -o $@ $^ $(LIB_A) $(TOOL_LIBS) $(LIB_LIBS)

$(TEST_BIN): $(TEST_SRC:%.c=$(BUILD)/%.o) $$(TEST_EXTRA) $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(SANFLAGS) -pthread -o $@ $^ $(LIB_A) $(TEST_LIBS) $(LIB_LIBS)

$(BUILD)/threads/%: $(BUILD)/tests/threads/%.o $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(SANFLAGS) -pthread -o $@ $^ $(LIB_A) $(LIB_LIBS)

$(BUILD)/bench/%: $(BUILD)/bench/%.o $(BENCH_COMMON:%.c=$(BUILD)/%.o) $(LIB_A)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD    $@")
	$(Q)$(CC) $(SANFLAGS) -pthread -o $@ $^ $(LIB_A) $(BENCH_LIBS) $(LIB_LIBS)

# The whole suite, as CI and a new user run it (README: `make test`).
test:
	$(Q)tools/scripts/deps.sh test
	$(Q)tools/scripts/run-tests.sh

check-all: test

# Off x86 (README: `make test-aarch64`): its own build directory and sysroot.
test-aarch64:
	$(Q)tools/scripts/test-aarch64.sh build-aarch64

bench:
	$(Q)tools/scripts/deps.sh bench
	$(Q)$(MAKE) --no-print-directory BUILD=build-bench OPT=-O2 lib tools benches python-ext
	$(Q)tools/scripts/run-bench.sh build-bench

demo:
	$(Q)tools/scripts/deps.sh demo
	$(Q)$(MAKE) --no-print-directory lib tools
	$(Q)tools/scripts/demo.sh $(BUILD)

install: lib tools
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR)
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/libisoreg.so.$(VERSION)
	ln -sf libisoreg.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libisoreg.so.$(word 1,$(subst ., ,$(VERSION)))
	ln -sf libisoreg.so.$(VERSION) $(DESTDIR)$(LIBDIR)/libisoreg.so
	install -m 644 include/isoreg.h $(DESTDIR)$(INCDIR)/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCDIR@|$(INCDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' isoreg.pc.in > $(DESTDIR)$(LIBDIR)/pkgconfig/isoreg.pc
	install -m 755 $(INST_TOOLS:%=$(BUILD)/bin/%) $(DESTDIR)$(BINDIR)/
	$(if $(filter trader,$(TOOLS)),install -m 755 $(BUILD)/bin/trader $(DESTDIR)$(BINDIR)/$(TRADER_NAME))
	$(if $(wildcard man/*.1),install -d $(DESTDIR)$(MANDIR)/man1 && install -m 644 $(wildcard man/*.1) $(DESTDIR)$(MANDIR)/man1/)

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libisoreg.a $(DESTDIR)$(LIBDIR)/libisoreg.so*
	rm -f $(DESTDIR)$(INCDIR)/isoreg.h $(DESTDIR)$(LIBDIR)/pkgconfig/isoreg.pc
	rm -f $(INST_TOOLS:%=$(DESTDIR)$(BINDIR)/%) $(DESTDIR)$(BINDIR)/$(TRADER_NAME) $(addprefix $(DESTDIR)$(MANDIR)/man1/,$(notdir $(wildcard man/*.1)))

# Debian packages (debian/, README "Deploying on a host"): the tree's
# files (tracked, and new ones not ignored: no build output) are copied to
# $(DEB_OUT)/src and built there with dpkg-buildpackage, which writes the
# .debs beside it, into $(DEB_OUT). Nothing outside $(DEB_OUT) is touched.
# deb-test does it from a clean clone of HEAD, then checks the packages.
DEB_OUT ?= build-deb
deb:
	$(Q)tools/scripts/deps.sh deb
	$(Q)rm -rf $(DEB_OUT) && mkdir -p $(DEB_OUT)/src
	$(Q)git ls-files -z -co --exclude-standard | xargs -0 -r sh -c 'for f; do [ -e "$$f" ] && printf "%s\0" "$$f"; done' sh | \
	  tar -c --null -T - | tar -x -C $(DEB_OUT)/src
	$(Q)cd $(DEB_OUT)/src && dpkg-buildpackage -us -uc -b -j2 >../build.log 2>&1 || \
	  { tail -n 40 $(DEB_OUT)/build.log; echo "make deb: dpkg-buildpackage failed ($(DEB_OUT)/build.log)" >&2; exit 1; }
	$(Q)ls -1 $(DEB_OUT)/*.deb

deb-test:
	$(Q)tools/scripts/deps.sh deb
	$(Q)tools/scripts/deb-test.sh

# Long chaos runs and fuzzing (issue 5); short forms run inside `make test`.
chaos:
	$(Q)tools/scripts/deps.sh test
	$(Q)tools/scripts/chaos.sh

fuzz:
	$(Q)tools/scripts/deps.sh test
	$(Q)tools/scripts/fuzz.sh

# The Python binding: the extension module isoreg._isoreg, built for the
# python3 on PATH (PYTHON=... for another) against its own headers, and the
# library copied beside the package (it is dlopen()ed at import).
PYTHON      ?= python3
PY_EXT_SRC  := $(wildcard python/ext/*.c)
PY_EXT_CFLAGS := -std=c11 -O2 -g $(WARN) -Iinclude -D_GNU_SOURCE -fPIC \
                 -fvisibility=hidden -fno-strict-aliasing

python: lib python-ext
	$(Q)mkdir -p python/isoreg/_lib
	$(Q)cp -f $(LIB_SO) python/isoreg/_lib/.libisoreg.so.tmp
	$(Q)mv -f python/isoreg/_lib/.libisoreg.so.tmp python/isoreg/_lib/libisoreg.so
	@$(if $(Q),echo "  PY    python/isoreg/_lib/libisoreg.so")

# Needs only include/isoreg.h, not the library: rebuilt every time (a
# second or two), so a header change or another interpreter is never
# missed.
python-ext: $(PY_EXT_SRC) python/ext/isoreg_ext.h include/isoreg.h
	$(Q)tools/scripts/deps.sh build
	$(Q)inc=$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_paths()["include"])') && \
	  suf=$$($(PYTHON) -c 'import sysconfig; print(sysconfig.get_config_var("EXT_SUFFIX"))') && \
	  test -f "$$inc/Python.h" || { echo "isoreg: no Python.h in $$inc (Debian: python3-dev)" >&2; exit 1; } && \
	  $(if $(Q),echo "  PYEXT python/isoreg/_isoreg$$suf" &&) \
	  $(CC) $(PY_EXT_CFLAGS) -I"$$inc" -shared -o python/isoreg/.ext.tmp$$suf $(PY_EXT_SRC) -ldl && \
	  mv -f python/isoreg/.ext.tmp$$suf python/isoreg/_isoreg$$suf

clean:
	rm -rf build build-*

# The header dependencies the compiler wrote (see DEPFLAGS).
# Only the object trees: a build directory may hold other things named *.d
# (build-aarch64's sysroot has /etc/ld.so.conf.d).
-include $(shell find $(addprefix $(BUILD)/,src tools tests bench fp) -name '*.d' -type f 2>/dev/null)
