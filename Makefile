# SPDX-License-Identifier: MIT
#
# uiommufd top-level build.  GNU make only; no configure step.
#
#   make                 engine library, preload library, launcher, CLI, example
#   make check           unit + ABI + uapi tests (ASan+UBSan builds), prints
#                        "N passed, N failed, N skipped"
#   make fuzz            bounded libFuzzer run of the dispatch layer (clang)
#   make fuzz-long       DURATION=s JOBS=n: a long run, corpus kept
#                        (VFIO_DURATION, PROTO_DURATION: the other targets)
#   make upstream        the kernel's iommufd selftest (6.12) under the launcher
#   make upstream-7.3    the 7.3 iommufd selftest, as --kernel=7.3
#   make soak            8 processes of mixed operations, SIGKILLs, the
#                        daemon under ASan with its invariant check
#   make vfio-selftest   the kernel's VFIO selftests (7.3) with emulated
#                        devices (not part of `make test` yet)
#   make package         the Debian packages, in a copy of the tree
#   make test            everything above: the README's test command
#   make bench           benchmarks (ratios to limits measured in the same run)
#
# V=1 shows the commands.  PREFIX/DESTDIR for `make install`.

VERSION     := 0.1.0
VERSION_MAJOR := $(word 1,$(subst ., ,$(VERSION)))
VERSION_MINOR := $(word 2,$(subst ., ,$(VERSION)))
SOVERSION   := 0
PREFIX      ?= /usr/local
LIBDIR      ?= $(PREFIX)/lib
INCLUDEDIR  ?= $(PREFIX)/include
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man

CC          ?= cc
B           := build

ifeq ($(V),1)
Q :=
else
Q := @
endif

WARN     := -Wall -Wextra -Werror -Wno-unused-parameter -Wmissing-prototypes -Wshadow
BASEFLAGS := -std=gnu11 -g $(WARN) -D_GNU_SOURCE -Iinclude -Iinclude/uiommufd/uapi -Isrc
CFLAGS   ?= -O2
ALLCFLAGS := $(BASEFLAGS) $(CPPFLAGS) $(CFLAGS) -fPIC -fvisibility=hidden
SANFLAGS := -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
LDLIBS   := -lpthread

# The engine, the dispatch layer and the device models (src/devices/).
ENGINE_SRCS := $(sort $(wildcard src/engine/*.c) $(wildcard src/uapi/*.c) \
	$(wildcard src/devices/*.c))
SHIM_SRCS   := $(sort $(wildcard src/shim/*.c)) src/server/wire.c src/server/ring.c
# The daemon of server mode (src/server/), linked into the launcher.
SERVER_SRCS := $(sort $(wildcard src/server/*.c))
UNIT_SRCS   := $(sort $(wildcard tests/unit/test_*.c))
UAPI_SRCS   := $(sort $(wildcard tests/uapi/test_*.c))
# Server-mode tests (tests/server/): plain programs run under the launcher.
SERVER_TEST_SRCS := $(sort $(wildcard tests/server/test_*.c))
# Server-mode tests that need emulated devices (uiommufd-run --device).
DEV_TEST_SRCS := $(sort $(wildcard tests/server/dev_*.c))
# ... with an emulated NIC (and an ioat): uiommufd-run --device igb --device ioat.
NIC_TEST_SRCS := $(sort $(wildcard tests/server/nic_*.c))

ENGINE_OBJS := $(ENGINE_SRCS:%.c=$(B)/obj/%.o)
SHIM_OBJS   := $(SHIM_SRCS:%.c=$(B)/obj/%.o)
SERVER_OBJS := $(SERVER_SRCS:%.c=$(B)/obj/%.o)
SAN_ENGINE_OBJS := $(ENGINE_SRCS:%.c=$(B)/san/%.o)

UNIT_BINS   := $(UNIT_SRCS:tests/unit/%.c=$(B)/tests/unit/%)
UAPI_BINS   := $(UAPI_SRCS:tests/uapi/%.c=$(B)/tests/uapi/%)
SERVER_TEST_BINS := $(SERVER_TEST_SRCS:tests/server/%.c=$(B)/tests/server/%) \
	$(DEV_TEST_SRCS:tests/server/%.c=$(B)/tests/server/%) \
	$(NIC_TEST_SRCS:tests/server/%.c=$(B)/tests/server/%)

LIB_A       := $(B)/libuiommufd.a
LIB_SO      := $(B)/libuiommufd.so.$(SOVERSION)
PRELOAD_SO  := $(B)/libuiommufd-preload.so
LAUNCHER    := $(B)/uiommufd-run
CLI         := $(B)/uiommufd
EXAMPLE     := $(B)/examples/ioas-demo
# The seed's QEMU and DPDK sequences (they need the uiommufd extensions'
# header; built, and run by `make check`, not installed).
SEQ_EXAMPLES := $(B)/examples/qemu-sequence $(B)/examples/dpdk-sequence
PCFILE      := $(B)/uiommufd.pc

all: $(LIB_A) $(LIB_SO) $(PRELOAD_SO) $(LAUNCHER) $(CLI) $(EXAMPLE) $(SEQ_EXAMPLES) $(PCFILE)

$(B)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(ALLCFLAGS) -MMD -MP -c $< -o $@

$(B)/san/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC-SAN  $<")
	$(Q)$(CC) $(BASEFLAGS) $(SANFLAGS) -DUFD_TESTING -MMD -MP -c $< -o $@

$(LIB_A): $(ENGINE_OBJS)
	@$(if $(Q),echo "  AR      $@")
	$(Q)rm -f $@ && ar rcs $@ $^

$(LIB_SO): $(ENGINE_OBJS) src/libuiommufd.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-soname,libuiommufd.so.$(SOVERSION) -Wl,-z,defs \
		-Wl,--version-script=src/libuiommufd.map $(LDFLAGS) -o $@ $(ENGINE_OBJS) $(LDLIBS)
	$(Q)ln -sf libuiommufd.so.$(SOVERSION) $(B)/libuiommufd.so

# The preload library carries its own copy of the engine (hidden symbols), so
# nothing but the libc wrappers is exported into the program it is loaded into.
$(PRELOAD_SO): $(SHIM_OBJS) $(ENGINE_OBJS) src/shim/preload.map
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) -shared -Wl,-z,defs -Wl,--version-script=src/shim/preload.map $(LDFLAGS) \
		-o $@ $(SHIM_OBJS) $(ENGINE_OBJS) $(LDLIBS) -ldl

# The header's UFD_VERSION_MAJOR/MINOR are checked against VERSION here.
VERSION_DEFS := -DUFD_MK_VERSION_MAJOR=$(VERSION_MAJOR) -DUFD_MK_VERSION_MINOR=$(VERSION_MINOR)
$(B)/obj/src/engine/version.o: ALLCFLAGS += $(VERSION_DEFS)
$(B)/san/src/engine/version.o: BASEFLAGS += $(VERSION_DEFS)

$(B)/obj/src/launcher/uiommufd-run.o: ALLCFLAGS += -DUFD_LIBDIR='"$(LIBDIR)/uiommufd"' -DUFD_VERSION='"$(VERSION)"'
ifneq ($(filter $(PREFIX)/%,$(LIBDIR)),)
$(B)/obj/src/launcher/uiommufd-run.o: ALLCFLAGS += -DUFD_LIBDIR_REL='"$(patsubst $(PREFIX)/%,%,$(LIBDIR))/uiommufd"'
endif

# The launcher is also the daemon of server mode: it links the engine.
LAUNCHER_OBJS := $(B)/obj/src/launcher/uiommufd-run.o \
	$(B)/obj/src/launcher/devspec.o $(B)/obj/src/launcher/testbed.o
$(LAUNCHER): $(LAUNCHER_OBJS) $(SERVER_OBJS) $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(CLI): $(B)/obj/src/cli/uiommufd.o $(B)/obj/src/server/wire.o $(LIB_A)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(EXAMPLE): $(B)/obj/examples/ioas-demo.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

$(SEQ_EXAMPLES): $(B)/examples/%: $(B)/obj/examples/%.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS) -o $@ $^

# Rewritten every time: PREFIX and LIBDIR may differ from the last build.
$(PCFILE): uiommufd.pc.in FORCE
	@mkdir -p $(B)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

# ---- tests -----------------------------------------------------------------

# The engine built with ASan+UBSan, for the unit tests.
SAN_LIB := $(B)/libuiommufd-san.a
$(SAN_LIB): $(SAN_ENGINE_OBJS)
	$(Q)rm -f $@ && ar rcs $@ $^

$(B)/tests/unit/%: tests/unit/%.c tests/unit/harness.h tests/unit/pci_host.h $(SAN_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD-SAN  $@")
	$(Q)$(CC) $(BASEFLAGS) $(SANFLAGS) -DUFD_TESTING -o $@ $< $(UNIT_EXTRA) \
		$(SAN_LIB) $(LDLIBS)

# The MMIO trap is shim code, not in the engine library: its test links the
# trap's own files, built with the sanitizers too.
MMIO_TRAP_SAN_OBJS := $(B)/san/src/shim/mmio_trap.o $(B)/san/src/shim/x86_decode.o \
	$(B)/san/src/shim/ucopy.o
$(B)/tests/unit/test_mmio_trap: $(MMIO_TRAP_SAN_OBJS)
$(B)/tests/unit/test_mmio_trap: UNIT_EXTRA := $(MMIO_TRAP_SAN_OBJS)

# The shared ring's waiting rules are server code too (both ends share
# them): their test links them, built with the sanitizers.
RING_SAN_OBJS := $(B)/san/src/server/ring.o $(B)/san/src/server/wire.o
$(B)/tests/unit/test_ring_spin: $(RING_SAN_OBJS)
$(B)/tests/unit/test_ring_spin: UNIT_EXTRA := $(RING_SAN_OBJS)
# So is the release barrier's hangup watch.
$(B)/tests/unit/test_hupwatch: $(B)/san/src/server/hupwatch.o
$(B)/tests/unit/test_hupwatch: UNIT_EXTRA := $(B)/san/src/server/hupwatch.o

# The launcher (and so the daemon) built with ASan+UBSan, for the soak.
SAN_LAUNCHER := $(B)/san/uiommufd-run
SAN_LAUNCHER_OBJS := $(LAUNCHER_OBJS:$(B)/obj/%=$(B)/san/%) \
	$(SERVER_OBJS:$(B)/obj/%=$(B)/san/%)
$(B)/san/src/launcher/uiommufd-run.o: BASEFLAGS += -DUFD_LIBDIR='"$(LIBDIR)/uiommufd"' -DUFD_VERSION='"$(VERSION)"'
$(SAN_LAUNCHER): $(SAN_LAUNCHER_OBJS) $(SAN_LIB)
	@$(if $(Q),echo "  LD-SAN  $@")
	$(Q)$(CC) $(SANFLAGS) -o $@ $^ $(LDLIBS)

# The launcher (and so the daemon: a thread per channel, the release
# thread, the shared rings) built with ThreadSanitizer, for server tests.
TSAN_LAUNCHER := $(B)/tsan/uiommufd-run
TSAN_LAUNCHER_SRCS := src/launcher/uiommufd-run.c src/launcher/devspec.c \
	src/launcher/testbed.c $(SERVER_SRCS) $(ENGINE_SRCS)
$(TSAN_LAUNCHER): $(TSAN_LAUNCHER_SRCS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD-TSAN $@")
	$(Q)$(CC) $(BASEFLAGS) -O1 -fsanitize=thread \
		-DUFD_LIBDIR='"$(LIBDIR)/uiommufd"' -DUFD_VERSION='"$(VERSION)"' \
		-o $@ $(TSAN_LAUNCHER_SRCS) $(LDLIBS)

# The tests that run threads, again under ThreadSanitizer.
TSAN_TESTS := test_device test_ioat test_igb test_igbvf test_vfio test_pasid \
	test_dirty test_granule
TSAN_BINS := $(TSAN_TESTS:%=$(B)/tests/tsan/%)
$(B)/tests/tsan/%: tests/unit/%.c tests/unit/harness.h tests/unit/pci_host.h $(ENGINE_SRCS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD-TSAN $@")
	$(Q)$(CC) $(BASEFLAGS) -O1 -fsanitize=thread -DUFD_TESTING -o $@ $< \
		$(ENGINE_SRCS) $(LDLIBS)

# uapi tests talk to an fd with ioctl(); they are built plain and run twice:
# once linked to the dispatch layer directly, once under the launcher.
# They depend on the uAPI headers they are written against.
UAPI_HDRS := $(wildcard include/uiommufd/uapi/linux/*.h include/uiommufd/uapi/*.h)
$(B)/tests/uapi/%: tests/uapi/%.c tests/unit/harness.h $(UAPI_HDRS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(BASEFLAGS) -O1 -o $@ $< $(LDLIBS)

# ...and linked with the shim and the engine: the shim's open/ioctl in the
# executable take the place of libc's, no LD_PRELOAD needed (UFD_SHIM_LINKED
# tells a test that it may use the shim's internals, test_sigdefer does).
$(B)/tests/uapi/%.direct: tests/uapi/%.c tests/unit/harness.h $(UAPI_HDRS) $(SHIM_OBJS) $(ENGINE_OBJS)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(BASEFLAGS) -O1 -DUFD_SHIM_LINKED -o $@ $< $(SHIM_OBJS) $(ENGINE_OBJS) $(LDLIBS) -ldl

$(B)/tests/server/%: tests/server/%.c tests/server/common.h tests/unit/harness.h $(UAPI_HDRS) \
		src/server/proto.h
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(BASEFLAGS) -O1 -o $@ $< $(LDLIBS)

check: $(SERVER_TEST_BINS)
check: all $(UNIT_BINS) $(UAPI_BINS) $(UAPI_BINS:%=%.direct) $(TSAN_BINS) \
	$(TSAN_LAUNCHER)
	$(Q)tests/run-checks.sh $(B)

# The Debian package, built in a copy of the tree (tests/package.sh).
package:
	$(Q)tests/package.sh $(B)

fuzz: all
	$(Q)tests/fuzz/run.sh $(B)

# A long run: DURATION seconds per target (default 3600; VFIO_DURATION and
# PROTO_DURATION set the VFIO and daemon-protocol targets' apart), JOBS
# parallel fuzzing processes (default 2), the corpus kept under $(B)/fuzz/.
DURATION ?= 3600
VFIO_DURATION ?= $(DURATION)
PROTO_DURATION ?= $(DURATION)
JOBS ?= 2
fuzz-long: all
	$(Q)FUZZ_SECONDS=$(DURATION) FUZZ_VFIO_SECONDS=$(VFIO_DURATION) \
		FUZZ_PROTO_SECONDS=$(PROTO_DURATION) \
		FUZZ_JOBS=$(JOBS) tests/fuzz/run.sh $(B)

upstream: all
	$(Q)tests/upstream/run.sh

# The same selftests from Debian's linux-source-7.3, under --kernel=7.3.
upstream-7.3: all
	$(Q)UPSTREAM_KERNEL=7.3 tests/upstream/run.sh

# The soak: mixed operations of 8 processes, SIGKILLs, the daemon under
# ASan with the engine's invariant check (tests/soak/run.sh).
$(B)/tests/soak/soak: tests/soak/soak.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(BASEFLAGS) -O1 -o $@ $< $(LDLIBS)

soak: all $(SAN_LAUNCHER) $(B)/tests/soak/soak
	$(Q)tests/soak/run.sh $(B)

vfio-selftest: all
	$(Q)tests/vfio/run.sh

vfio-selftest-igb: all
	$(Q)VFIO_DEVICE_TYPE=igb tests/vfio/run.sh

test: all
	$(Q)tests/run-all.sh

bench: all
	$(Q)$(MAKE) -s -C bench B=../$(B)

# ---- install ---------------------------------------------------------------

install: all
	install -d $(DESTDIR)$(LIBDIR) $(DESTDIR)$(LIBDIR)/pkgconfig $(DESTDIR)$(BINDIR) \
		$(DESTDIR)$(INCLUDEDIR)/uiommufd/uapi/linux $(DESTDIR)$(MANDIR)/man1 \
		$(DESTDIR)$(LIBDIR)/uiommufd $(DESTDIR)$(MANDIR)/man3 $(DESTDIR)$(MANDIR)/man7
	install -m 644 $(LIB_A) $(DESTDIR)$(LIBDIR)/
	install -m 755 $(LIB_SO) $(DESTDIR)$(LIBDIR)/
	ln -sf libuiommufd.so.$(SOVERSION) $(DESTDIR)$(LIBDIR)/libuiommufd.so
	install -m 755 $(PRELOAD_SO) $(EXAMPLE) $(DESTDIR)$(LIBDIR)/uiommufd/
	install -m 755 $(LAUNCHER) $(CLI) $(DESTDIR)$(BINDIR)/
	install -m 644 include/uiommufd.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 include/uiommufd/uapi/linux/iommufd.h include/uiommufd/uapi/linux/vfio.h \
		include/uiommufd/uapi/linux/iommufd_ext.h \
		$(DESTDIR)$(INCLUDEDIR)/uiommufd/uapi/linux/
	install -m 644 include/uiommufd/uapi/iommufd_test.h $(DESTDIR)$(INCLUDEDIR)/uiommufd/uapi/
	install -m 644 $(PCFILE) $(DESTDIR)$(LIBDIR)/pkgconfig/
	install -m 644 man/*.1 $(DESTDIR)$(MANDIR)/man1/
	install -m 644 man/man3/*.3 $(DESTDIR)$(MANDIR)/man3/
	install -m 644 man/*.7 $(DESTDIR)$(MANDIR)/man7/

clean:
	rm -rf $(B)

FORCE:

.PHONY: all check package fuzz fuzz-long upstream upstream-7.3 vfio-selftest vfio-selftest-igb soak test bench install clean FORCE
.DELETE_ON_ERROR:

-include $(shell find $(B) -name '*.d' -type f -not -path '$(B)/vfio/*' -not -path '$(B)/ksrc/*' -not -path '$(B)/apt/*' 2>/dev/null)
