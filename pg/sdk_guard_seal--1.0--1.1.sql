-- sdk_guard_seal 1.1: seal_keys_changed(), the trigger that lets seal_scope_native()
-- reuse a verdict across transactions (sdk_guard_seal.c).  sdk_guard.data creates the
-- trigger on sdk_guard.seal_keys, ENABLE ALWAYS, when it installs the policies.
\echo Use "ALTER EXTENSION sdk_guard_seal UPDATE" to load this file. \quit

CREATE FUNCTION @extschema@.seal_keys_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'sdk_guard_seal_keys_changed'
    LANGUAGE C;

REVOKE ALL ON FUNCTION @extschema@.seal_keys_changed() FROM PUBLIC;
ALTER FUNCTION @extschema@.seal_keys_changed() OWNER TO @extowner@;

