-- Secure by default: row level security on every table of the keap schema, with no policy.
-- Supabase's Data API roles (anon, authenticated) then read nothing, even once the schema is
-- exposed, until the owner writes a policy (manual-setup.md shows how). The sync connects as
-- the tables' owner, which row level security does not restrict. A table a later migration
-- adds enables it in the same file (tests/sync/test_security.py checks every table).
DO $$
DECLARE
    t record;
BEGIN
    FOR t IN
        SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
        WHERE n.nspname = 'keap' AND c.relkind IN ('r', 'p')
    LOOP
        EXECUTE format('ALTER TABLE keap.%I ENABLE ROW LEVEL SECURITY', t.relname);
    END LOOP;
END
$$;
