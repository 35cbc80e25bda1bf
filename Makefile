# libklog — plain GNU Makefile.
#
#   make                 library (static + shared), tools, examples, benchmarks
#   make check           fast test tier (include walls, Check suites, script tests, fuzz replay)
#   make check-layers    fail when an #include crosses a layer or module wall
#   make check SANITIZE=1  the same under ASan+UBSan (build/asan)
#   make tsan-check      threaded suites ("threads" in their name) under TSan (build/tsan)
#   make stress          crash (kill -9) rounds, ROUNDS=1000 by default
#   make fuzz            libFuzzer on every target, FUZZ_SECONDS each
#   make bench / bench-quick   benchmarks, results in build/bench/results.csv
#   make interop         Apache Kafka (jars fetched by Maven) as the oracle
#   make demo            produce and consume a small log, printing what happened
#   make install PREFIX=/usr/local DESTDIR=   /   make uninstall
#   make man             regenerate man/klog.3 from include/klog.h
#
# Sources are discovered, never listed: lib/<layer>/*.c form the library,
# test/check_*.c are Check suites (each defines `Suite *NAME_suite(void)`),
# test/t_*.sh are script tests, examples/*.c and examples/<dir>/ are programs,
# bench/*.c are benchmarks.

VERSION_MAJOR := $(shell sed -n 's/^\#define KLOG_VERSION_MAJOR *\([0-9]*\).*/\1/p' include/klog.h)
VERSION_MINOR := $(shell sed -n 's/^\#define KLOG_VERSION_MINOR *\([0-9]*\).*/\1/p' include/klog.h)
VERSION_PATCH := $(shell sed -n 's/^\#define KLOG_VERSION_PATCH *\([0-9]*\).*/\1/p' include/klog.h)
VERSION := $(VERSION_MAJOR).$(VERSION_MINOR).$(VERSION_PATCH)

PREFIX     ?= /usr/local
EXEC_PREFIX ?= $(PREFIX)
BINDIR     ?= $(EXEC_PREFIX)/bin
LIBDIR     ?= $(EXEC_PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
DATADIR    ?= $(PREFIX)/share
MANDIR     ?= $(DATADIR)/man
DESTDIR    ?=
LDCONFIG   ?= ldconfig

CC      ?= cc
CFLAGS  ?= -O2 -g
LDFLAGS ?=
PKG_CONFIG ?= pkg-config

WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wpointer-arith -Wcast-align -Wundef
# A feature macro used without including its generated header must not
# quietly read as 0 (a codec silently missing): make that an error.
WARN += -Werror=undef
KCFLAGS := -std=gnu11 -D_GNU_SOURCE -pthread -Iinclude -Ilib $(WARN)

# Optional codecs, ZooKeeper and benchmark peers, detected on every run of
# make. What was found is written to generated headers under $(O)/gen (one
# per consumer), each rewritten only when its text changes; objects depend on
# the headers they include (-MMD), so installing or removing a package and
# running make again rebuilds exactly the objects and programs that use it.
# KLOG_DETECT_OFF="zstd snappy ..." pretends those are absent (for tests).
detect = $(if $(filter $(1),$(KLOG_DETECT_OFF)),,$(shell $(2) >/dev/null 2>&1 && echo 1))
HAVE_ZSTD   := $(call detect,zstd,$(PKG_CONFIG) --exists libzstd)
HAVE_ZLIB   := $(call detect,zlib,$(PKG_CONFIG) --exists zlib)
HAVE_SNAPPY := $(call detect,snappy,test -f /usr/include/snappy-c.h)
HAVE_ZK     := $(call detect,zookeeper,test -f /usr/include/zookeeper/zookeeper.h)
HAVE_SQLITE := $(call detect,sqlite,test -f /usr/include/sqlite3.h)
HAVE_LMDB   := $(call detect,lmdb,test -f /usr/include/lmdb.h)
HAVE_ROCKSDB := $(call detect,rocksdb,test -f /usr/include/rocksdb/c.h)
HAVE_CLANG  := $(call detect,clang,command -v $(or $(FUZZ_CC),clang))
HAVE_RDKAFKA := $(call detect,rdkafka,$(PKG_CONFIG) --exists rdkafka)
REQ_PRIV := liblz4 libxxhash
DEP_LIBS := -llz4 -lxxhash
ifeq ($(HAVE_ZSTD),1)
  REQ_PRIV += libzstd
  DEP_LIBS += -lzstd
endif
ifeq ($(HAVE_ZLIB),1)
  REQ_PRIV += zlib
  DEP_LIBS += -lz
endif
ifeq ($(HAVE_SNAPPY),1)
  # snappy is C++: a fully static link (cc -static) needs its runtime, which
  # snappy's own .pc does not name.
  LIBS_PRIV_EXTRA := -lsnappy -lstdc++
  DEP_LIBS += -lsnappy
endif
ifeq ($(HAVE_ZK),1)
  LIBS_PRIV_EXTRA += -lzookeeper_mt
  DEP_LIBS += -lzookeeper_mt
endif
DEP_LIBS += -lpthread -lm

# Build flavours: each gets its own output tree so they never mix objects.
# BUILD moves the whole tree (the detection test builds in a scratch one).
BUILD ?= build
O := $(BUILD)
ifeq ($(SANITIZE),1)
  O := $(BUILD)/asan
  KCFLAGS += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined
  LDFLAGS += -fsanitize=address,undefined
  CFLAGS := -O1 -g
endif
ifeq ($(TSAN),1)
  O := $(BUILD)/tsan
  KCFLAGS += -fsanitize=thread -fno-omit-frame-pointer
  LDFLAGS += -fsanitize=thread
  CFLAGS := -O1 -g
endif

# The generated feature headers, one per consumer so that each package
# reaches only what uses it: $(GEN)/klog_codecs.h (zstd, zlib, snappy: the
# codec and its tests), $(GEN)/klog_zookeeper.h (the ZooKeeper registry),
# $(GEN)/bench_peers.h (bench_peers); $(GEN)/detected.txt lists everything
# found (`make config` prints it). Each is written at parse time and only
# when its text changed, so its timestamp moves only when the machine's set
# of packages does. A dry run (make -n) writes nothing: a header that would
# change is instead marked out of date, so the dry run lists what a real run
# would rebuild.
GEN := $(O)/gen
KCFLAGS += -I$(GEN)
DRY_RUN := $(findstring n,$(firstword -$(MAKEFLAGS)))
bit = $(if $(filter 1,$(1)),1,0)
define_line = "\#define $(1) $(call bit,$(2))"
write_if_changed = $(shell mkdir -p $(dir $(1)) && printf '%s\n' $(2) > $(1).tmp && \
    if cmp -s $(1).tmp $(1); then rm -f $(1).tmp; \
    elif [ -n "$(DRY_RUN)" ]; then rm -f $(1).tmp; echo $(1); else mv -f $(1).tmp $(1); fi)
GEN_NOTE := "/* Generated by the Makefile from the packages found on this machine. */"
GEN_STALE := $(call write_if_changed,$(GEN)/klog_codecs.h,$(GEN_NOTE) \
    $(call define_line,KLOG_HAVE_ZSTD,$(HAVE_ZSTD)) $(call define_line,KLOG_HAVE_ZLIB,$(HAVE_ZLIB)) \
    $(call define_line,KLOG_HAVE_SNAPPY,$(HAVE_SNAPPY)))
GEN_STALE += $(call write_if_changed,$(GEN)/klog_zookeeper.h,$(GEN_NOTE) \
    $(call define_line,KLOG_HAVE_ZOOKEEPER,$(HAVE_ZK)))
GEN_STALE += $(call write_if_changed,$(GEN)/bench_peers.h,$(GEN_NOTE) \
    $(call define_line,BENCH_HAVE_SQLITE,$(HAVE_SQLITE)) $(call define_line,BENCH_HAVE_LMDB,$(HAVE_LMDB)) \
    $(call define_line,BENCH_HAVE_ROCKSDB,$(HAVE_ROCKSDB)))
GEN_STALE += $(call write_if_changed,$(GEN)/detected.txt,zstd=$(call bit,$(HAVE_ZSTD)) zlib=$(call bit,$(HAVE_ZLIB)) \
    snappy=$(call bit,$(HAVE_SNAPPY)) zookeeper=$(call bit,$(HAVE_ZK)) sqlite=$(call bit,$(HAVE_SQLITE)) \
    lmdb=$(call bit,$(HAVE_LMDB)) rocksdb=$(call bit,$(HAVE_ROCKSDB)) clang=$(call bit,$(HAVE_CLANG)) rdkafka=$(call bit,$(HAVE_RDKAFKA)))
ifneq ($(strip $(GEN_STALE)),)
$(GEN_STALE): FORCE
	@echo "  GEN     $@ (the detected packages changed)"
endif
# The shared library's link line names the libraries found: it relinks when
# they change (programs relink through libklog.a's objects).
LINK_STAMP := $(GEN)/klog_codecs.h $(GEN)/klog_zookeeper.h

ifeq ($(V),1)
  Q :=
  say = @true
else
  Q := @
  say = @printf '  %-7s %s\n' $(1) $(2)
endif

LIB_SRC  := $(sort $(wildcard lib/*/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(O)/obj/%.o)
PIC_OBJ  := $(LIB_SRC:%.c=$(O)/pic/%.o)
STATIC   := $(O)/libklog.a
SONAME   := libklog.so.$(VERSION_MAJOR)
SHARED   := $(O)/libklog.so.$(VERSION)

# Programs: examples/NAME.c -> $(O)/examples/NAME ; examples/DIR/*.c -> $(O)/DIR
EX_SINGLE := $(patsubst examples/%.c,$(O)/examples/%,$(wildcard examples/*.c))
EX_DIRS   := $(filter-out klogmirror,$(patsubst examples/%/,%,$(sort $(dir $(wildcard examples/*/*.c)))))
EX_MULTI  := $(addprefix $(O)/,$(EX_DIRS))
BENCH_SRC := $(wildcard bench/*.c)
BENCH_COMMON := $(filter bench/bench_util.c,$(BENCH_SRC))
BENCH     := $(patsubst bench/%.c,$(O)/bench/%,$(filter-out $(BENCH_COMMON),$(BENCH_SRC)))
# Benchmark scripts run by make bench beside the programs above.
BENCH_SCRIPTS := bench/kafka_peer.sh bench/kafka_log_peer.sh
RDK_PEER  := $(if $(HAVE_RDKAFKA),$(O)/bench/rdk_peer)
# klogmirror (examples/klogmirror/: mirror to and from Apache Kafka) links
# librdkafka: built only when its development files are found.
KLOGMIRROR := $(if $(HAVE_RDKAFKA),$(O)/klogmirror)

TEST_SRC  := $(sort $(wildcard test/check_*.c))
TEST_UTIL := $(sort $(wildcard test/util/*.c))
TEST_BIN  := $(O)/test/check_klog
FUZZ_SRC  := $(sort $(wildcard test/fuzz/fuzz_*.c))
FUZZ_REPLAY := $(patsubst test/fuzz/%.c,$(O)/fuzz/%_replay,$(FUZZ_SRC))
TEST_HELPERS := $(patsubst test/helpers/%.c,$(O)/test/%,$(wildcard test/helpers/*.c))

.PHONY: FORCE all lib check check-layers check-unit check-scripts check-fuzz demo install uninstall \
        clean man deps stress fuzz bench bench-quick tsan-check config interop
.DEFAULT_GOAL := all

all: lib $(EX_SINGLE) $(EX_MULTI) $(BENCH) $(RDK_PEER) $(KLOGMIRROR) $(O)/klog.pc
lib: $(STATIC) $(SHARED)

$(O)/obj/%.o: %.c include/klog.h $(wildcard lib/*/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,$<)
	$(Q)$(CC) $(KCFLAGS) $(CFLAGS) -MMD -MP -c $< -o $@

$(O)/pic/%.o: %.c include/klog.h $(wildcard lib/*/*.h)
	@mkdir -p $(dir $@)
	$(call say,CC,'$< (pic)')
	$(Q)$(CC) $(KCFLAGS) $(CFLAGS) -MMD -MP -fPIC -fvisibility=hidden -DKLOG_BUILDING_SHARED -c $< -o $@
# Each object also depends on the headers it includes, generated ones too.
-include $(LIB_OBJ:.o=.d) $(PIC_OBJ:.o=.d)

$(STATIC): $(LIB_OBJ)
	$(call say,AR,$@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(SHARED): $(PIC_OBJ) $(LINK_STAMP)
	$(call say,LD,$@)
	$(Q)$(CC) -shared -Wl,-soname,$(SONAME) $(LDFLAGS) -o $@ $(PIC_OBJ) $(DEP_LIBS)
	$(Q)ln -sf libklog.so.$(VERSION) $(O)/$(SONAME)
	$(Q)ln -sf $(SONAME) $(O)/libklog.so

# klog.pc records install paths, which make cannot see as files: rebuild it
# on every run, replacing it only when its text changes, so that
# `make && make install PREFIX=/usr` installs a .pc that says /usr.
$(O)/klog.pc: pkgconfig/klog.pc.in include/klog.h Makefile FORCE
	@mkdir -p $(dir $@)
	$(Q)sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' -e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(VERSION)|' -e 's|@REQUIRES_PRIVATE@|$(REQ_PRIV)|' \
	    -e 's|@LIBS_PRIVATE@|$(LIBS_PRIV_EXTRA) -lpthread -lm|' $< > $@.tmp
	$(Q)if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv -f $@.tmp $@; fi
FORCE:

# Programs link the static library: one self-contained binary each.
$(O)/examples/%: examples/%.c $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(KCFLAGS) $(CFLAGS) $(LDFLAGS) -o $@ $< $(STATIC) $(DEP_LIBS)

define multi_prog
$(O)/$(1): $(wildcard examples/$(1)/*.c) $(wildcard examples/$(1)/*.h) $(STATIC)
	@mkdir -p $$(dir $$@)
	$$(call say,CCLD,$$@)
	$$(Q)$$(CC) $$(KCFLAGS) $$(CFLAGS) $$(LDFLAGS) -Iexamples/$(1) -o $$@ $(wildcard examples/$(1)/*.c) $$(STATIC) $$(DEP_LIBS)
endef
$(foreach d,$(EX_DIRS),$(eval $(call multi_prog,$(d))))

$(O)/klogmirror: $(wildcard examples/klogmirror/*.c) $(wildcard examples/klogmirror/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(KCFLAGS) $(shell $(PKG_CONFIG) --cflags rdkafka) $(CFLAGS) $(LDFLAGS) -Iexamples/klogmirror \
	    -o $@ $(wildcard examples/klogmirror/*.c) $(STATIC) $(DEP_LIBS) $(shell $(PKG_CONFIG) --libs rdkafka)

$(O)/bench/%: bench/%.c $(BENCH_COMMON) $(wildcard bench/*.h) $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(KCFLAGS) $(CFLAGS) $(LDFLAGS) -Ibench -o $@ $< $(BENCH_COMMON) $(STATIC) $(DEP_LIBS)

# bench_peers alone links the embedded stores it compares against, each only
# when its Debian development package is installed ($(GEN)/bench_peers.h).
PEER_LIBS   := $(if $(HAVE_SQLITE),-lsqlite3) $(if $(HAVE_LMDB),-llmdb) $(if $(HAVE_ROCKSDB),-lrocksdb)
$(O)/bench/bench_peers: bench/bench_peers.c $(BENCH_COMMON) $(wildcard bench/*.h) $(GEN)/bench_peers.h $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(KCFLAGS) $(CFLAGS) $(LDFLAGS) -Ibench -o $@ $< $(BENCH_COMMON) \
	    $(STATIC) $(PEER_LIBS) $(DEP_LIBS)

# The librdkafka client of bench/kafka_peer.sh (kbroker vs Apache Kafka),
# built only when librdkafka's development files are found; no libklog.
$(O)/bench/rdk_peer: bench/peer/rdk_peer.c
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) -std=gnu11 $(WARN) $(CFLAGS) $(LDFLAGS) $(shell $(PKG_CONFIG) --cflags rdkafka) \
	    -o $@ $< $(shell $(PKG_CONFIG) --libs rdkafka)

# --- tests -------------------------------------------------------------------
CHECK_CFLAGS := $(shell $(PKG_CONFIG) --cflags check 2>/dev/null)
CHECK_LIBS   := $(shell $(PKG_CONFIG) --libs check 2>/dev/null || echo -lcheck)

$(O)/test/check_main.c: $(TEST_SRC) Makefile
	@mkdir -p $(dir $@)
	$(Q)suites=$$(sed -n 's/^Suite *\* *\([a-z0-9_]*_suite\) *( *void *).*/\1/p' $(TEST_SRC)); \
	{ echo '#include <check.h>'; echo '#include <stdlib.h>'; echo '#include <string.h>'; \
	  for s in $$suites; do echo "Suite *$$s(void);"; done; \
	  echo 'int main(int argc, char **argv) {'; \
	  echo '  SRunner *sr = srunner_create(NULL);'; \
	  for s in $$suites; do echo "  if (argc < 2 || strstr(\"$$s\", argv[1])) srunner_add_suite(sr, $$s());"; done; \
	  echo '  srunner_run_all(sr, CK_NORMAL);'; \
	  echo '  int failed = srunner_ntests_failed(sr);'; \
	  echo '  srunner_free(sr);'; \
	  echo '  return failed ? EXIT_FAILURE : EXIT_SUCCESS; }'; } > $@

$(TEST_BIN): $(TEST_SRC) $(TEST_UTIL) $(wildcard test/util/*.h) $(O)/test/check_main.c $(LINK_STAMP) $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(KCFLAGS) $(CFLAGS) $(CHECK_CFLAGS) $(LDFLAGS) -Itest -o $@ $(TEST_SRC) $(TEST_UTIL) \
	    $(O)/test/check_main.c $(STATIC) $(CHECK_LIBS) $(DEP_LIBS)

$(O)/test/%: test/helpers/%.c $(TEST_UTIL) $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(KCFLAGS) $(CFLAGS) $(LDFLAGS) -Itest -o $@ $< $(TEST_UTIL) $(STATIC) $(DEP_LIBS)

# Fuzz targets double as corpus replayers (a plain main that feeds each file).
# fuzz_kbroker compiles the example broker's sources into itself.
$(O)/fuzz/fuzz_kbroker_replay $(O)/fuzz/fuzz_kbroker: $(wildcard examples/kbroker/*.c examples/kbroker/*.h)
$(O)/fuzz/%_replay: test/fuzz/%.c test/fuzz/replay_main.c $(STATIC)
	@mkdir -p $(dir $@)
	$(call say,CCLD,$@)
	$(Q)$(CC) $(KCFLAGS) $(CFLAGS) $(LDFLAGS) -Itest -o $@ $< test/fuzz/replay_main.c $(STATIC) $(DEP_LIBS)

deps:
	@sh .ci/deps

check: deps
	@$(MAKE) --no-print-directory check-layers
	@$(MAKE) --no-print-directory all $(TEST_BIN) $(FUZZ_REPLAY) $(TEST_HELPERS)
	@$(MAKE) --no-print-directory check-unit check-fuzz check-scripts

# Include walls (test/check_layers.py): layers include only downwards, read/
# produce/ group/ only storage's interface headers, module-private headers
# only their module, no include cycle, examples only klog.h. The self-test
# plants each kind of violation in a copy of the tree and must see it fail.
PYTHON ?= python3
check-layers:
	@echo "== include walls =="
	@mkdir -p $(O)
	$(Q)$(PYTHON) test/check_layers.py .
	$(Q)$(PYTHON) test/check_layers.py --self-test . > $(O)/check_layers_selftest.log 2>&1 || \
	    { cat $(O)/check_layers_selftest.log; exit 1; }

check-unit: $(TEST_BIN) $(TEST_HELPERS)
	@echo "== Check suites ($(O)) =="
	$(Q)KLOG_BUILD=$(O) CK_DEFAULT_TIMEOUT=$${CK_DEFAULT_TIMEOUT:-120} $(TEST_BIN) $(SUITE)

check-fuzz: $(FUZZ_REPLAY)
	@echo "== fuzz corpus replay =="
	$(Q)for f in $(FUZZ_REPLAY); do t=$$(basename $$f _replay); \
	    $$f test/fuzz/corpus/$$t || exit 1; done

check-scripts: all $(TEST_HELPERS)
	@echo "== script tests =="
	$(Q)pass=0; fail=0; skip=0; for t in $(sort $(wildcard test/t_*.sh)); do \
	    KLOG_BUILD=$(O) sh $$t > $(O)/$$(basename $$t).log 2>&1; rc=$$?; \
	    if [ $$rc -eq 0 ]; then pass=$$((pass+1)); echo "  PASS $$t"; \
	    elif [ $$rc -eq 77 ]; then skip=$$((skip+1)); echo "  SKIP $$t: $$(tail -1 $(O)/$$(basename $$t).log)"; \
	    else fail=$$((fail+1)); echo "  FAIL $$t (log: $(O)/$$(basename $$t).log)"; tail -20 $(O)/$$(basename $$t).log; fi; \
	done; echo "scripts: $$pass passed, $$fail failed, $$skip skipped"; [ $$fail -eq 0 ]

tsan-check: deps
	@$(MAKE) --no-print-directory TSAN=1 build/tsan/test/check_klog
	$(Q)KLOG_BUILD=build/tsan TSAN_OPTIONS=halt_on_error=1 build/tsan/test/check_klog threads

stress: all $(TEST_HELPERS)
	$(Q)KLOG_BUILD=$(O) KLOG_STRESS_ROUNDS=$${ROUNDS:-1000} sh test/stress/crash_stress.sh

# libFuzzer: each test/fuzz/fuzz_*.c built with clang, run FUZZ_SECONDS each
# over its committed corpus (new inputs land in build/fuzz/new/<target>).
FUZZ_SECONDS ?= 60
FUZZ_CC ?= clang
fuzz:
	@[ "$(HAVE_CLANG)" = 1 ] || { echo "make fuzz: $(FUZZ_CC) not found (apt-get install clang libclang-rt-14-dev)"; exit 1; }
	@mkdir -p build/fuzz
	$(Q)for src in $(FUZZ_SRC); do t=$$(basename $$src .c); \
	    echo "== $$t ($(FUZZ_SECONDS)s)"; \
	    $(FUZZ_CC) -g -O1 -fsanitize=fuzzer,address,undefined -std=gnu11 -D_GNU_SOURCE -pthread \
	        -Iinclude -Ilib -Itest -I$(GEN) $(filter -D%,$(KCFLAGS)) $$src $(LIB_SRC) -o build/fuzz/$$t $(DEP_LIBS) || exit 1; \
	    mkdir -p build/fuzz/new/$$t test/fuzz/corpus/$$t; \
	    build/fuzz/$$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
	        build/fuzz/new/$$t test/fuzz/corpus/$$t > build/fuzz/$$t.log 2>&1; rc=$$?; \
	    grep -E 'stat::number_of_executed_units|ERROR|SUMMARY' build/fuzz/$$t.log; \
	    [ $$rc -eq 0 ] || { tail -40 build/fuzz/$$t.log; exit 1; }; \
	done

# Benchmarks: every bench program, RESULT lines collected into results.csv
# (with the program's name as a last column), then bench/report.sh writes
# results.md and the PNG charts and checks that every experiment has its
# figures. The peers and gnuplot are bench-only packages (.ci/deps bench):
# install them first, then build in a new make, whose detection sees them
# and rebuilds bench_peers if it was built without them. The scripts run
# after the programs: bench/kafka_peer.sh (kbroker vs Apache Kafka) needs
# $(O)/bench/rdk_peer (built when librdkafka is found) and, for Kafka's
# side, java and mvn; bench/kafka_log_peer.sh (klog_append vs Kafka's
# UnifiedLog alone) needs java, javac and mvn.
BENCH_ARGS ?=
bench bench-quick:
	@sh .ci/deps base bench
	@$(MAKE) --no-print-directory all
	@mkdir -p $(O)/bench
	$(Q)args="$(BENCH_ARGS)"; [ "$@" = bench-quick ] && args="--quick $$args"; t0=$$(date +%s); \
	echo "name,median,unit,min,max,ratio,program" > $(O)/bench/results.csv; fail=0; \
	for b in $(BENCH) $(BENCH_SCRIPTS); do echo "== $$b $$args"; p=$$(basename $$b .sh); \
	    KLOG_BUILD=$(O) $$b $$args > $(O)/bench/$$p.out || { echo "FAILED: $$b"; fail=1; }; \
	    grep -v '^RESULT,\|^RATIO,' $(O)/bench/$$p.out; \
	    grep '^RESULT,' $(O)/bench/$$p.out | cut -d, -f2- | \
	        sed "s/\$$/,$$p/" >> $(O)/bench/results.csv; \
	done; \
	n=$$(($$(wc -l < $(O)/bench/results.csv) - 1)); echo "bench: $$n figures in $(O)/bench/results.csv"; \
	sh bench/report.sh $(O)/bench $@ $$(($$(date +%s) - t0)) || fail=1; \
	[ $$fail -eq 0 ] && [ $$n -gt 0 ]

# What this build detected (see the generated headers in $(GEN)).
config:
	@tr ' ' '\n' < $(GEN)/detected.txt

# Apache Kafka as the oracle: test/interop/kafka_*.sh run Kafka's own tools
# and broker (pinned in test/interop/kafka/pom.xml, fetched by Maven into its
# cache) against libklog's files. Each script prints PASS/FAIL lines and
# `interop: N passed, N failed, N skipped`. Skipped only without java/mvn.
INTEROP_SCRIPTS := $(filter-out test/interop/kafka_common.sh,$(sort $(wildcard test/interop/kafka_*.sh)))
HAVE_KAFKA_TOOLS := $(shell command -v java > /dev/null 2>&1 && command -v mvn > /dev/null 2>&1 && echo 1)
interop:
ifneq ($(HAVE_KAFKA_TOOLS),1)
	@echo "interop: SKIPPED: java or mvn not found (Apache Kafka as the oracle needs both)"
	@echo "interop: 0 passed, 0 failed, $(words $(INTEROP_SCRIPTS)) skipped"
else
	@$(MAKE) --no-print-directory all $(O)/test/oracle_gen $(O)/test/txn_gen
	$(Q)t0=$$(date +%s); fail=0; for t in $(INTEROP_SCRIPTS); do echo "== $$t"; t1=$$(date +%s); \
	    KLOG_BUILD=$(O) PYTHON=/usr/bin/python3 sh $$t || fail=1; \
	    echo "   ($$t: $$(($$(date +%s) - t1)) s)"; done; \
	echo "interop took $$(($$(date +%s) - t0)) s"; [ $$fail -eq 0 ]
endif

demo: deps
	@$(MAKE) --no-print-directory all
	$(Q)rm -rf $(O)/demo-log && $(O)/examples/demo $(O)/demo-log

# The klog(3) manual page is generated from the header (the specification);
# test/t_man3.sh fails when man/klog.3 is out of date.
man: include/klog.h man/mkman.awk
	$(call say,GEN,man/klog.3)
	$(Q)awk -v version=$(VERSION) -f man/mkman.awk include/klog.h include/klog.h > man/klog.3.tmp && \
	    mv -f man/klog.3.tmp man/klog.3

# --- install -----------------------------------------------------------------
# install records the directories it had to create (without DESTDIR) in
# $(DATADIR)/libklog/installed-dirs, so that uninstall removes exactly
# those, and only when they are empty again. A real install (root, no
# DESTDIR) refreshes the dynamic linker's cache with $(LDCONFIG).
INSTALL_DIRS = $(LIBDIR) $(INCLUDEDIR) $(PKGCONFIGDIR) $(BINDIR) $(MANDIR)/man1 \
               $(MANDIR)/man3 $(DATADIR)/libklog
DIRS_LIST = $(DATADIR)/libklog/installed-dirs

install: all
	@new=$$(for d in $(INSTALL_DIRS); do \
	    while [ -n "$$d" ] && [ "$$d" != / ] && [ ! -d "$(DESTDIR)$$d" ]; do \
	        echo "$$d"; d=$$(dirname "$$d"); done; done | sort -u); \
	install -d $(addprefix $(DESTDIR),$(INSTALL_DIRS)) && \
	{ [ -f $(DESTDIR)$(DIRS_LIST) ] && cat $(DESTDIR)$(DIRS_LIST); \
	  [ -n "$$new" ] && echo "$$new"; true; } | sort -u > $(DESTDIR)$(DIRS_LIST).tmp && \
	mv -f $(DESTDIR)$(DIRS_LIST).tmp $(DESTDIR)$(DIRS_LIST)
	install -m 644 include/klog.h $(DESTDIR)$(INCLUDEDIR)/klog.h
	install -m 644 $(STATIC) $(DESTDIR)$(LIBDIR)/libklog.a
	install -m 755 $(SHARED) $(DESTDIR)$(LIBDIR)/libklog.so.$(VERSION)
	ln -sf libklog.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME)
	ln -sf $(SONAME) $(DESTDIR)$(LIBDIR)/libklog.so
	install -m 644 $(O)/klog.pc $(DESTDIR)$(PKGCONFIGDIR)/klog.pc
	install -m 644 man/klog.3 $(DESTDIR)$(MANDIR)/man3/klog.3
	@if [ -x $(O)/klogcat ]; then install -m 755 $(O)/klogcat $(DESTDIR)$(BINDIR)/klogcat; fi
	@if [ -f examples/klogcat/klogcat.1 ]; then \
	    install -m 644 examples/klogcat/klogcat.1 $(DESTDIR)$(MANDIR)/man1/klogcat.1; fi
	@if [ -x $(O)/kbroker ]; then install -m 755 $(O)/kbroker $(DESTDIR)$(BINDIR)/kbroker; fi
	@if [ -f examples/kbroker/kbroker.1 ]; then \
	    install -m 644 examples/kbroker/kbroker.1 $(DESTDIR)$(MANDIR)/man1/kbroker.1; fi
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then \
	    echo "$(LDCONFIG)"; $(LDCONFIG) || echo "warning: $(LDCONFIG) failed"; fi

uninstall:
	rm -f $(DESTDIR)$(INCLUDEDIR)/klog.h $(DESTDIR)$(LIBDIR)/libklog.a \
	      $(DESTDIR)$(LIBDIR)/libklog.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(SONAME) \
	      $(DESTDIR)$(LIBDIR)/libklog.so $(DESTDIR)$(PKGCONFIGDIR)/klog.pc \
	      $(DESTDIR)$(BINDIR)/klogcat $(DESTDIR)$(MANDIR)/man1/klogcat.1 \
	      $(DESTDIR)$(BINDIR)/kbroker $(DESTDIR)$(MANDIR)/man1/kbroker.1 \
	      $(DESTDIR)$(MANDIR)/man3/klog.3
	@if [ -f $(DESTDIR)$(DIRS_LIST) ]; then \
	    dirs=$$(sort -r $(DESTDIR)$(DIRS_LIST)); rm -f $(DESTDIR)$(DIRS_LIST); \
	    for d in $$dirs; do rmdir "$(DESTDIR)$$d" 2>/dev/null || true; done; fi

clean:
	rm -rf build
