# Property-based fuzzing (proptest) of everything that reads untrusted bytes or makes a security
# promise: the plugin configuration, the host's header maps, the auth service's answer, shared-data
# slots, request paths, and the properties the README promises (identity only from an allow, one key
# per credential, no slot yielding another key's decision). Files: filter/core/tests/fuzz_*.rs,
# filter/tests/fuzz_*.rs.
#   make test-fuzz   a bounded run (part of make test): FUZZ_CASES cases per property, seconds in all
#   make fuzz        the long run: FUZZ_LONG_CASES cases per property (minutes)

FUZZ_CASES      ?= 20000
FUZZ_LONG_CASES ?= 2000000
# The flow's invariants over random interleavings (filter/core/src/flow/invariants.rs): a case is a
# whole sequence of events, so far fewer; make test runs them with the unit tests (400 cases).
FLOW_LONG_CASES ?= 100000
FUZZ_TESTS      := $(foreach f,$(wildcard filter/core/tests/fuzz_*.rs filter/tests/fuzz_*.rs),--test $(basename $(notdir $(f))))

TEST_TARGETS += test-fuzz

.PHONY: test-fuzz fuzz

test-fuzz:
	PROPTEST_CASES=$(FUZZ_CASES) $(CARGO) test --release -p mesh-authz-core -p mesh-authz $(FUZZ_TESTS)

fuzz:
	PROPTEST_CASES=$(FUZZ_LONG_CASES) $(CARGO) test --release -p mesh-authz-core -p mesh-authz $(FUZZ_TESTS)
	FLOW_CASES=$(FLOW_LONG_CASES) $(CARGO) test --release -p mesh-authz-core --lib flow::invariants
