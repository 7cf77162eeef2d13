# The two commands the README promises, on a fresh machine:
#   make demo   - install what is missing, build, then run the example host application
#   make test   - install what is missing, build, then run the whole suite (pytest + ctest)
# `make deps` installs system and Python packages (scripts/install-deps) and leaves a
# stamp, so later runs touch neither apt nor pip until its inputs change; `make build`
# only compiles.
PYTHON ?= python3
CTEST_BUILD ?= build/ctest
DEPS_STAMP := build/.deps-$(notdir $(PYTHON))

.PHONY: deps build demo test pytest ctest ctest-asan lint bench clean fuzz fuzz-py fuzz-c \
	test-devmode cpython-suite

$(DEPS_STAMP): scripts/install-deps requirements-dev.txt
	PYTHON=$(PYTHON) scripts/install-deps
	@mkdir -p $(dir $@) && touch $@

deps: $(DEPS_STAMP)

build:
	$(PYTHON) setup.py -q build_ext --inplace

demo: $(DEPS_STAMP) build
	$(PYTHON) examples/host_app.py

pytest: $(DEPS_STAMP) build
	$(PYTHON) -m pytest -q

ctest: $(DEPS_STAMP)
	cmake -S . -B $(CTEST_BUILD) -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS) >/dev/null
	cmake --build $(CTEST_BUILD) -j2
	ctest --test-dir $(CTEST_BUILD) --output-on-failure

ctest-asan:
	$(MAKE) ctest CTEST_BUILD=build/asan CMAKE_ARGS=-DSDK_GUARD_SANITIZE=ON

test: pytest ctest

lint: $(DEPS_STAMP)
	scripts/lint

# Fuzzing, time-boxed: the Hypothesis suites (tests/fuzz, profile from
# SDK_GUARD_FUZZ_PROFILE: ci by default, about two minutes) and the libFuzzer harnesses
# of the pure-C core (FUZZ_SECONDS each, built with clang).  The corpus of past
# failures is replayed by ctest on every `make test`.
FUZZ_SECONDS ?= 15
fuzz: fuzz-py fuzz-c

fuzz-py: build
	$(PYTHON) -m pytest -q tests/fuzz

fuzz-c: $(DEPS_STAMP)
	scripts/fuzz-c $(FUZZ_SECONDS)

# The guard's behaviour suites with every child interpreter in dev mode and on the
# debug allocators (install() once aborted there).
test-devmode: build
	PYTHONDEVMODE=1 PYTHONMALLOC=debug $(PYTHON) -m pytest -q -p no:cacheprovider \
		tests/python/test_guard_crashes.py tests/python/test_guard_hostile_objects.py \
		tests/python/test_guard_fs.py tests/python/test_guard_net.py \
		tests/python/test_guard_imports.py tests/python/test_guard_threads_api.py \
		tests/python/test_audit.py

# CPython's own regression suite with and without the guard (CI part: time-boxed).
CPYTHON_SELECTION ?= ci
cpython-suite: build
	$(PYTHON) tests/cpython/run_suite.py --selection $(CPYTHON_SELECTION) --time-box 170

bench: $(DEPS_STAMP) build
	$(PYTHON) bench/run_all.py

clean:
	rm -rf build python/sdk_guard/*.so
