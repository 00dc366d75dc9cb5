-- The types the example's tables use that `mirror init` cannot create from the layout (it knows
-- column types by name only): a new mirror runs this first, as the master did in tables.sql.
-- Idempotent: safe to run again.
DO $$
BEGIN
    IF to_regtype('public.fluency') IS NULL THEN
        CREATE TYPE public.fluency AS ENUM ('basic', 'intermediate', 'advanced', 'native');
    END IF;
    IF to_regtype('public.positive_int') IS NULL THEN
        CREATE DOMAIN public.positive_int AS integer CHECK (VALUE > 0);
    END IF;
END
$$;
