-- runsheet journal schema, version 2: who is connected to a session.

-- Attached and watching terminals, one row per connection that announced
-- itself. Like runsheet.drivers, the row is only a description: the
-- connection it names (backend_pid, started no later than `since`) being
-- alive in pg_stat_activity is the proof, so a terminal that vanished
-- without a word drops out of the list by itself.
CREATE TABLE runsheet.presence (
    session     text NOT NULL,
    backend_pid integer NOT NULL,
    role        text NOT NULL CHECK (role IN ('attached', 'watching')),
    operator    text NOT NULL,
    os_user     text NOT NULL,
    host        text NOT NULL,
    terminal    text,
    since       timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (session, backend_pid)
);
