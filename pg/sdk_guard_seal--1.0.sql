-- sdk_guard_seal 1.0: seal_scope_native(), the C twin of sdk_guard.seal_scope().
\echo Use "CREATE EXTENSION sdk_guard_seal" to load this file. \quit

CREATE FUNCTION @extschema@.seal_scope_native() RETURNS text[]
    AS 'MODULE_PATHNAME', 'sdk_guard_seal_scope'
    LANGUAGE C STABLE;

REVOKE ALL ON FUNCTION @extschema@.seal_scope_native() FROM PUBLIC;
-- Owned by whoever creates the extension (sdk_guard.data's owner role), who grants it
-- to the session role like the plpgsql check.
ALTER FUNCTION @extschema@.seal_scope_native() OWNER TO @extowner@;
