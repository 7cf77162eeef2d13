# The two commands the README promises, on a fresh machine:
#   make demo   - build, then run the example host application
#   make test   - build, then run the whole test suite (pytest + ctest)
PYTHON ?= python3
CTEST_BUILD ?= build/ctest

.PHONY: deps build demo test pytest ctest ctest-asan bench clean fuzz fuzz-py fuzz-c test-devmode cpython-suite

deps:
	PYTHON=$(PYTHON) scripts/install-deps

build: deps
	$(PYTHON) setup.py -q build_ext --inplace

demo: build
	$(PYTHON) examples/host_app.py

pytest: build
	$(PYTHON) -m pytest -q

ctest: deps
	cmake -S . -B $(CTEST_BUILD) -DCMAKE_BUILD_TYPE=Debug $(CMAKE_ARGS) >/dev/null
	cmake --build $(CTEST_BUILD) -j2
	ctest --test-dir $(CTEST_BUILD) --output-on-failure

ctest-asan:
	$(MAKE) ctest CTEST_BUILD=build/asan CMAKE_ARGS=-DSDK_GUARD_SANITIZE=ON

test: pytest ctest

# Fuzzing, time-boxed: the Hypothesis suites (tests/fuzz, profile from
# SDK_GUARD_FUZZ_PROFILE: ci by default, about two minutes) and the libFuzzer harnesses
# of the pure-C core (FUZZ_SECONDS each, built with clang).  The corpus of past
# failures is replayed by ctest on every `make test`.
FUZZ_SECONDS ?= 15
fuzz: fuzz-py fuzz-c

fuzz-py: build
	$(PYTHON) -m pytest -q tests/fuzz

fuzz-c: deps
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

bench: build
	$(PYTHON) bench/run_all.py

clean:
	rm -rf build python/sdk_guard/*.so
