-- Custom fields as typed columns: Keap's field definitions per account and object, and the
-- functions the views keap.<object>_custom read values with. A view column holds NULL, never
-- an error, for a value whose shape its type does not allow; raw keeps the value as it came.

CREATE TABLE keap.custom_fields (
    account text NOT NULL,
    object text NOT NULL,
    id text NOT NULL,
    label text NOT NULL,
    field_type text NOT NULL,
    field_name text,
    options jsonb NOT NULL DEFAULT '[]',
    column_name text NOT NULL,
    column_type text NOT NULL,
    PRIMARY KEY (account, object, id)
);
COMMENT ON TABLE keap.custom_fields IS
    'Keap custom field definitions (GET /v2/<object>/model) and the column of '
    'keap.<object>_custom each one is.';

CREATE TABLE keap.custom_field_models (
    account text NOT NULL,
    object text NOT NULL,
    model_hash text NOT NULL,
    read_at timestamptz NOT NULL DEFAULT now(),
    built_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (account, object)
);
COMMENT ON TABLE keap.custom_field_models IS
    'When each object''s model was last read from Keap, and its view last built.';

ALTER TABLE keap.custom_fields ENABLE ROW LEVEL SECURITY;
ALTER TABLE keap.custom_field_models ENABLE ROW LEVEL SECURITY;

-- A field's value (its `content` as JSON) as text, numeric, boolean, date, timestamptz or
-- text[]: NULL for a value of another shape. Checks come before casts (nested CASEs keep
-- that order), so no value raises.
CREATE FUNCTION keap.cf_text(v jsonb) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN jsonb_typeof(v) IN ('string', 'number', 'boolean') THEN v #>> '{}' END $$;

CREATE FUNCTION keap.cf_numeric(v jsonb) RETURNS numeric
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE jsonb_typeof(v)
                     WHEN 'number' THEN (v #>> '{}')::numeric
                     WHEN 'string' THEN keap.to_numeric(v #>> '{}')
                 END $$;

CREATE FUNCTION keap.cf_boolean(v jsonb) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE jsonb_typeof(v)
                     WHEN 'boolean' THEN (v #>> '{}')::boolean
                     WHEN 'string' THEN keap.to_bool(v #>> '{}')
                 END $$;

-- Whether 'YYYY-MM-DD' (digits already checked) names a day of the calendar.
CREATE FUNCTION keap.cf_is_day(d text) RETURNS boolean
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN substr(d, 1, 4) = '0000' THEN false
                      ELSE substr(d, 9, 2)::int <= extract(day FROM
                               make_date(substr(d, 1, 4)::int, substr(d, 6, 2)::int, 1)
                               + interval '1 month - 1 day')::int
                 END $$;

CREATE FUNCTION keap.cf_date(v jsonb) RETURNS date
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN
                   CASE WHEN (v #>> '{}') ~ '^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])($|[T ])' THEN
                     CASE WHEN keap.cf_is_day(substr(v #>> '{}', 1, 10))
                          THEN substr(v #>> '{}', 1, 10)::date END
                   END
                 END $$;

CREATE FUNCTION keap.cf_timestamptz(v jsonb) RETURNS timestamptz
    LANGUAGE sql STABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN jsonb_typeof(v) = 'string' THEN
                   CASE WHEN (v #>> '{}') ~ ('^[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])'
                                             '[T ]([01][0-9]|2[0-3]):[0-5][0-9]'
                                             '(:[0-5][0-9](\.[0-9]{1,9})?)?'
                                             '(Z|[+-]([01][0-9]|2[0-3])(:?[0-5][0-9])?)?$') THEN
                     CASE WHEN keap.cf_is_day(substr(v #>> '{}', 1, 10))
                          THEN (v #>> '{}')::timestamptz END
                   END
                 END $$;

CREATE FUNCTION keap.cf_text_array(v jsonb) RETURNS text[]
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    AS $$ SELECT CASE WHEN jsonb_typeof(v) = 'array' THEN
                   CASE WHEN NOT jsonb_path_exists(
                            v, '$[*] ? (@.type() == "object" || @.type() == "array" || @.type() == "null")')
                        THEN ARRAY(SELECT jsonb_array_elements_text(v)) END
                 END $$;
