-- sdk_guard_seal 1.1: seal_keys_changed(), the trigger that lets seal_scope_native()
-- reuse a verdict across transactions (sdk_guard_seal.c).  sdk_guard.data creates the
-- trigger on sdk_guard.seal_keys, ENABLE ALWAYS, when it installs the policies.
\echo Use "ALTER EXTENSION sdk_guard_seal UPDATE" to load this file. \quit

CREATE FUNCTION @extschema@.seal_keys_changed() RETURNS trigger
    AS 'MODULE_PATHNAME', 'sdk_guard_seal_keys_changed'
    LANGUAGE C;

REVOKE ALL ON FUNCTION @extschema@.seal_keys_changed() FROM PUBLIC;
ALTER FUNCTION @extschema@.seal_keys_changed() OWNER TO @extowner@;

-- seal_org_native() and seal_user_native(): the seal's org and user, as text, for
-- policies that call the check directly (STABLE: where a statement also compares
-- the column with a constant or parameter, the planner checks the seal once for it).
CREATE FUNCTION @extschema@.seal_org_native() RETURNS text
    AS 'MODULE_PATHNAME', 'sdk_guard_seal_org'
    LANGUAGE C STABLE;
CREATE FUNCTION @extschema@.seal_user_native() RETURNS text
    AS 'MODULE_PATHNAME', 'sdk_guard_seal_user'
    LANGUAGE C STABLE;

REVOKE ALL ON FUNCTION @extschema@.seal_org_native() FROM PUBLIC;
REVOKE ALL ON FUNCTION @extschema@.seal_user_native() FROM PUBLIC;
ALTER FUNCTION @extschema@.seal_org_native() OWNER TO @extowner@;
ALTER FUNCTION @extschema@.seal_user_native() OWNER TO @extowner@;
