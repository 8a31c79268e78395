# Backup helpers of the CryoProtect remediation runbook.
#
# Every step that makes, checks or restores a backup includes this file
# (```sh {file=cryoprotect/backups.sh}```) and then calls one function, so the
# rules live in one place and are part of the runbook's hash.
#
# A backup is a pg_dump custom-format archive,
#   $CRYO_BACKUP_DIR/$RUNSHEET_ENV/<UTC time>-<system id>-<session>-<step id>.dump
# written under a temporary name and renamed only once `pg_restore --list`
# has read it back, so every *.dump file there is a verified backup. Its
# name says which cluster it is of (the server's system identifier) and which
# session made it: a session counts only its own backups of its own target,
# never a dump an earlier session (or another server) left in the folder.
# CRYO_BACKUP_DIR is relative to the runbook's folder unless absolute.

set -euo pipefail
umask 077 # backups hold personal data (e-mail addresses): owner only

: "${RUNSHEET_DATABASE_URL:?this environment has no database URL; set its CRYO_*_DATABASE_URL variable}"
: "${CRYO_BACKUP_DIR:=backups}"
backup_dir="$CRYO_BACKUP_DIR/$RUNSHEET_ENV"

need_tools() {
    local tool
    for tool in "$@"; do
        if ! command -v "$tool" >/dev/null; then
            echo "$tool is not installed: install the PostgreSQL client tools (Debian/Ubuntu: sudo apt-get install postgresql-client) and run this step again" >&2
            exit 127
        fi
    done
}

# The system identifier of the database this session runs against (runsheet
# records it when the session starts; asked of the server otherwise).
target_id() {
    if [[ -n ${RUNSHEET_SYSTEM_IDENTIFIER:-} ]]; then
        printf '%s\n' "$RUNSHEET_SYSTEM_IDENTIFIER"
        return
    fi
    need_tools psql
    psql -X -Atq -d "$RUNSHEET_DATABASE_URL" -c 'select system_identifier from pg_control_system()'
}

# The backups of this target, newest first (names start with the time); with
# `session`, only those this session made.
backups_newest_first() {
    local id pattern files=()
    id=$(target_id)
    pattern="*-$id-*.dump"
    if [[ ${1:-} == session ]]; then
        pattern="*-$id-${RUNSHEET_SESSION:?not run by runsheet: RUNSHEET_SESSION is not set}-*.dump"
    fi
    shopt -s nullglob
    # shellcheck disable=SC2206 # the pattern is meant to glob
    files=("$backup_dir"/$pattern)
    shopt -u nullglob
    local i
    for ((i = ${#files[@]} - 1; i >= 0; i--)); do
        printf '%s\n' "${files[i]}"
    done
}

# The archive being written; global, because the EXIT trap that removes it
# after a failure runs once create_backup's locals are gone.
backup_partial=""

# Dump the environment's database and prove the archive can be read back.
# On failure the partial file is removed and pg_dump's own words are shown.
create_backup() {
    need_tools pg_dump pg_restore
    mkdir -p "$backup_dir"
    local file entries errors id toc
    id=$(target_id)
    file="$backup_dir/$(date -u +%Y%m%dT%H%M%SZ)-$id-${RUNSHEET_SESSION:-nosession}-${RUNSHEET_STEP:-backup}.dump"
    backup_partial="$file.partial"
    trap 'rm -f -- "$backup_partial"' EXIT
    echo "pg_dump --format=custom of the $RUNSHEET_ENV database (system $id) to $file"
    if ! errors=$(pg_dump --format=custom --file="$backup_partial" "$RUNSHEET_DATABASE_URL" 2>&1); then
        rm -f -- "$backup_partial"
        echo "pg_dump failed, so no backup was made: ${errors:-it gave no reason}" >&2
        exit 1
    fi
    [[ -z $errors ]] || echo "$errors" >&2
    if ! toc=$(pg_restore --list "$backup_partial"); then
        rm -f -- "$backup_partial"
        echo "pg_restore --list cannot read the archive pg_dump wrote, so no backup was made" >&2
        exit 1
    fi
    entries=$(grep -c '^[0-9]' <<<"$toc" || true)
    mv "$backup_partial" "$file"
    trap - EXIT
    echo "verified backup: $file ($(du -h "$file" | cut -f1), $entries archive entries read back by pg_restore --list)"
}

# Keep the newest backup this session made of this target that pg_restore can
# read; make one when there is none. A dump an earlier session left behind
# never counts: a new session backs up the database as it is now.
ensure_backup() {
    need_tools pg_dump pg_restore
    local file
    while IFS= read -r file; do
        if pg_restore --list "$file" >/dev/null 2>&1; then
            echo "verified backup of this session exists: $file (pg_restore --list reads it)"
            return 0
        fi
        echo "not a usable backup, ignored: $file (pg_restore --list cannot read it)"
    done < <(backups_newest_first session)
    echo "no verified backup of the $RUNSHEET_ENV database made in this session in $backup_dir yet: making one"
    create_backup
}

# A backup from before the remediation has the starting table molecule and
# no row-level security or policy (phase 1 adds those).
is_pre_remediation() {
    local toc
    toc=$(pg_restore --list "$1" 2>/dev/null) || return 1
    grep -Eq '^[0-9]+; [0-9]+ [0-9]+ TABLE public molecule ' <<<"$toc" &&
        ! grep -Eq '^[0-9]+; [0-9]+ [0-9]+ (ROW SECURITY|POLICY) ' <<<"$toc"
}

# Replace everything in schema public with the newest pre-remediation backup
# of this target (made by any session: a rollback session restores what the
# session it undoes backed up), in one transaction (rolled back under a dry run).
restore_latest_backup() {
    need_tools pg_restore psql
    local file chosen=""
    while IFS= read -r file; do
        if is_pre_remediation "$file"; then
            chosen=$file
            break
        fi
        echo "skipped $file: taken after the remediation had started (or unreadable)"
    done < <(backups_newest_first)
    if [[ -z $chosen ]]; then
        echo "no pre-remediation backup of the $RUNSHEET_ENV database in $backup_dir; restore one by hand with pg_restore" >&2
        exit 1
    fi
    local end="COMMIT;"
    if [[ ${RUNSHEET_DRY_RUN:-0} == 1 ]]; then
        end="ROLLBACK;"
        echo "dry run: the restore runs in a transaction that is rolled back"
    fi
    echo "restoring $chosen into the $RUNSHEET_ENV database"
    {
        echo "BEGIN;"
        echo "SET LOCAL client_min_messages = warning;"
        cat <<'SQL'
-- Drop what is in schema public (the remediation's objects and the ones the
-- backup brings back), keeping what belongs to extensions.
do $$
declare
    obj record;
begin
    for obj in
        select case c.relkind when 'v' then 'view' when 'm' then 'materialized view'
                              when 'S' then 'sequence' when 'f' then 'foreign table' else 'table' end as kind,
               format('public.%I', c.relname) as name
        from pg_class c
        where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p', 'v', 'm', 'f', 'S')
          and not exists (select 1 from pg_depend d
                          where d.classid = 'pg_class'::regclass and d.objid = c.oid and d.deptype = 'e')
        order by c.relkind = 'S', c.relname
    loop
        execute format('drop %s if exists %s cascade', obj.kind, obj.name);
    end loop;
    for obj in
        select case p.prokind when 'p' then 'procedure' when 'a' then 'aggregate' else 'function' end as kind,
               p.oid::regprocedure::text as name
        from pg_proc p
        where p.pronamespace = 'public'::regnamespace
          and not exists (select 1 from pg_depend d
                          where d.classid = 'pg_proc'::regclass and d.objid = p.oid and d.deptype = 'e')
    loop
        execute format('drop %s if exists %s cascade', obj.kind, obj.name);
    end loop;
    for obj in
        select case t.typtype when 'd' then 'domain' else 'type' end as kind, format('public.%I', t.typname) as name
        from pg_type t
        where t.typnamespace = 'public'::regnamespace and t.typtype in ('c', 'd', 'e', 'r')
          and (t.typtype <> 'c' or (select relkind from pg_class where oid = t.typrelid) = 'c')
          and not exists (select 1 from pg_depend d
                          where d.classid = 'pg_type'::regclass and d.objid = t.oid and d.deptype = 'e')
    loop
        execute format('drop %s if exists %s cascade', obj.kind, obj.name);
    end loop;
end
$$;
SQL
        pg_restore --file=- "$chosen"
        # Only a complete restore script ends with COMMIT: a failed pg_restore
        # leaves the transaction open, and psql's exit rolls it back.
        echo "$end"
    } | psql -X -q -v ON_ERROR_STOP=1 -d "$RUNSHEET_DATABASE_URL" >/dev/null
    echo "restored $chosen"
}

# The Rollback Procedure can run here: the section is in the runbook, the
# tools are installed, and a pre-remediation backup this session made of this
# target is there to restore.
check_rollback_ready() {
    local runbook=cryoprotect-remediation.md
    if ! grep -qx '## Rollback Procedure' "$runbook"; then
        echo "$runbook has no '## Rollback Procedure' section; restore it from version control" >&2
        exit 1
    fi
    need_tools pg_restore psql
    local file
    while IFS= read -r file; do
        if is_pre_remediation "$file"; then
            echo "rollback plan in place: the Rollback Procedure of $runbook, pg_restore and psql, and a pre-remediation backup to restore: $file"
            return 0
        fi
    done < <(backups_newest_first session)
    echo "no pre-remediation backup of the $RUNSHEET_ENV database made in this session in $backup_dir, so a rollback could not undo phase 4; make one (step prerequisites.backup) before any phase runs" >&2
    exit 1
}
