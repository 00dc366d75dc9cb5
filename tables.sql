-- The example mirror's tables: a MusicBrainz-like core, created on the master and on replicas.
-- Idempotent: safe to run again. The replicated layout is described in schema.yaml.

CREATE SCHEMA IF NOT EXISTS musicbrainz;

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

CREATE TABLE IF NOT EXISTS area (
    id              integer PRIMARY KEY,
    gid             uuid NOT NULL,
    name            varchar NOT NULL,
    type            integer,
    edits_pending   integer NOT NULL DEFAULT 0,
    last_updated    timestamptz DEFAULT now(),
    begin_date_year smallint,
    ended           boolean NOT NULL DEFAULT false,
    comment         varchar(255) NOT NULL DEFAULT ''
);
CREATE UNIQUE INDEX IF NOT EXISTS area_idx_gid ON area (gid);

CREATE TABLE IF NOT EXISTS artist (
    id              integer PRIMARY KEY,
    gid             uuid NOT NULL,
    name            varchar NOT NULL,
    sort_name       varchar NOT NULL,
    begin_date      date,
    end_date        date,
    type            integer,
    area            integer,
    gender          integer,
    comment         varchar(255) NOT NULL DEFAULT '',
    edits_pending   integer NOT NULL DEFAULT 0,
    last_updated    timestamptz DEFAULT now(),
    ended           boolean NOT NULL DEFAULT false,
    rating          real,
    popularity      double precision,
    coordinates     point,
    fluency         fluency
);
CREATE UNIQUE INDEX IF NOT EXISTS artist_idx_gid ON artist (gid);

CREATE TABLE IF NOT EXISTS artist_gid_redirect (
    gid             uuid PRIMARY KEY,
    new_id          integer NOT NULL,
    created         timestamptz DEFAULT now()
);

CREATE TABLE IF NOT EXISTS artist_credit (
    id              integer PRIMARY KEY,
    name            varchar NOT NULL,
    artist_count    smallint NOT NULL,
    ref_count       integer DEFAULT 0,
    created         timestamptz DEFAULT now(),
    edits_pending   integer NOT NULL DEFAULT 0,
    gid             uuid NOT NULL
);

CREATE TABLE IF NOT EXISTS artist_credit_name (
    artist_credit   integer NOT NULL,
    position        smallint NOT NULL,
    artist          integer NOT NULL,
    name            varchar NOT NULL,
    join_phrase     text NOT NULL DEFAULT '',
    PRIMARY KEY (artist_credit, position)
);

CREATE TABLE IF NOT EXISTS label (
    id              integer PRIMARY KEY,
    gid             uuid NOT NULL,
    name            varchar NOT NULL,
    label_code      positive_int,
    country_code    char(2),
    comment         varchar(255) NOT NULL DEFAULT '',
    edits_pending   integer NOT NULL DEFAULT 0,
    last_updated    timestamptz DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS label_idx_gid ON label (gid);

CREATE TABLE IF NOT EXISTS release_group (
    id              integer PRIMARY KEY,
    gid             uuid NOT NULL,
    name            varchar NOT NULL,
    artist_credit   integer NOT NULL,
    type            integer,
    comment         varchar(255) NOT NULL DEFAULT '',
    edits_pending   integer NOT NULL DEFAULT 0,
    last_updated    timestamptz DEFAULT now(),
    secondary_types smallint[]
);
CREATE UNIQUE INDEX IF NOT EXISTS release_group_idx_gid ON release_group (gid);

CREATE TABLE IF NOT EXISTS release (
    id              integer PRIMARY KEY,
    gid             uuid NOT NULL,
    name            varchar NOT NULL,
    artist_credit   integer NOT NULL,
    release_group   integer NOT NULL,
    status          integer,
    barcode         varchar(255),
    price           numeric(10,2),
    comment         varchar(255) NOT NULL DEFAULT '',
    edits_pending   integer NOT NULL DEFAULT 0,
    quality         smallint NOT NULL DEFAULT -1,
    last_updated    timestamptz DEFAULT now()
);
CREATE UNIQUE INDEX IF NOT EXISTS release_idx_gid ON release (gid);

CREATE TABLE IF NOT EXISTS medium (
    id              integer PRIMARY KEY,
    release         integer NOT NULL,
    position        integer NOT NULL,
    format          integer,
    name            varchar NOT NULL DEFAULT '',
    edits_pending   integer NOT NULL DEFAULT 0,
    last_updated    timestamptz DEFAULT now(),
    track_count     integer NOT NULL DEFAULT 0,
    cover_art       bytea
);

CREATE TABLE IF NOT EXISTS recording (
    id              integer PRIMARY KEY,
    gid             uuid NOT NULL,
    name            varchar NOT NULL,
    artist_credit   integer NOT NULL,
    length          integer,
    comment         varchar(255) NOT NULL DEFAULT '',
    edits_pending   integer NOT NULL DEFAULT 0,
    last_updated    timestamptz DEFAULT now(),
    video           boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS recording_idx_gid ON recording (gid);

CREATE TABLE IF NOT EXISTS track (
    id              bigint PRIMARY KEY,
    gid             uuid NOT NULL,
    recording       integer NOT NULL,
    medium          integer NOT NULL,
    position        integer NOT NULL,
    number          text NOT NULL,
    name            varchar NOT NULL,
    artist_credit   integer NOT NULL,
    length          integer,
    duration        interval,
    edits_pending   integer NOT NULL DEFAULT 0,
    last_updated    timestamptz DEFAULT now(),
    is_data_track   boolean NOT NULL DEFAULT false
);
CREATE UNIQUE INDEX IF NOT EXISTS track_idx_gid ON track (gid);

CREATE TABLE IF NOT EXISTS tag (
    id              integer PRIMARY KEY,
    name            varchar(255) NOT NULL,
    ref_count       integer NOT NULL DEFAULT 0,
    aliases         text[]
);
CREATE UNIQUE INDEX IF NOT EXISTS tag_idx_name ON tag (name);

CREATE TABLE IF NOT EXISTS artist_tag (
    artist          integer NOT NULL,
    tag             integer NOT NULL,
    count           integer NOT NULL,
    last_updated    timestamptz DEFAULT now(),
    PRIMARY KEY (artist, tag)
);

-- A text key.
CREATE TABLE IF NOT EXISTS replication_control_note (
    code            text PRIMARY KEY,
    body            json,
    attributes      jsonb,
    client_addr     inet,
    opens_at        time,
    created_local   timestamp,
    checksum        bytea
);

-- A table outside public.
CREATE TABLE IF NOT EXISTS musicbrainz.editor_note (
    id              integer PRIMARY KEY,
    editor          integer NOT NULL,
    note            text NOT NULL,
    country         char(2),
    mentions        integer[],
    created         timestamptz NOT NULL DEFAULT now(),
    fluency         fluency
);
