-- Phase 1: security lockdown.
--
-- Every table gets row-level security, so a client that connects with the
-- application's credentials sees only what a policy allows. The application
-- tells the database who the user is with
--   set app.user_id = '<user_profile.id>'
-- (current_setting(..., true) is NULL when unset, and a NULL match denies).
-- Back-end jobs use the service_role role, which gets a policy that allows
-- everything. Table owners and superusers are not subject to RLS, so the
-- remediation scripts themselves keep working.
--
-- Undo: phase1-rollback.sql. Check: phase1-verify.sql.

do $$
begin
    if to_regclass('public.molecule') is null and to_regclass('public.molecules') is null then
        raise exception 'phase 1 (security lockdown) needs the CryoProtect schema: table molecule not found';
    end if;
    if exists (select 1 from pg_class
               where oid in (to_regclass('public.molecule'), to_regclass('public.molecules'))
                 and relrowsecurity) then
        raise exception 'phase 1 (security lockdown) is already applied: row-level security is enabled on table %',
            coalesce(to_regclass('public.molecule'), to_regclass('public.molecules'))
            using hint = 'Nothing to do. To apply it again, run phase1-rollback.sql first.';
    end if;
end
$$;

-- Roles are shared by the whole server: create service_role only when it is
-- missing, and tolerate another session creating it at the same moment.
do $$
begin
    if not exists (select 1 from pg_roles where rolname = 'service_role') then
        create role service_role nologin;
    end if;
exception
    when duplicate_object or unique_violation then
        null;
end
$$;

alter table user_profile enable row level security;
alter table property_type enable row level security;
alter table molecule enable row level security;
alter table mixture enable row level security;
alter table mixture_component enable row level security;
alter table experiment enable row level security;
alter table prediction enable row level security;

-- A user sees and edits their own profile only.
create policy self_access on user_profile
    using (id::text = current_setting('app.user_id', true))
    with check (id::text = current_setting('app.user_id', true));

-- Reference data: everyone reads, only the service role writes.
create policy read_all on property_type for select using (true);

-- The molecule and mixture catalogues are shared for reading, but only the
-- author may change an entry.
create policy read_all on molecule for select using (true);
create policy owner_write on molecule
    using (created_by::text = current_setting('app.user_id', true))
    with check (created_by::text = current_setting('app.user_id', true));

create policy read_all on mixture for select using (true);
create policy owner_write on mixture
    using (created_by::text = current_setting('app.user_id', true))
    with check (created_by::text = current_setting('app.user_id', true));

-- A component belongs to its mixture: whoever owns the mixture edits it.
create policy read_all on mixture_component for select using (true);
create policy owner_write on mixture_component
    using (exists (select 1 from mixture m
                   where m.id = mixture_component.mixture_id
                     and m.created_by::text = current_setting('app.user_id', true)))
    with check (exists (select 1 from mixture m
                        where m.id = mixture_component.mixture_id
                          and m.created_by::text = current_setting('app.user_id', true)));

-- Lab results and model runs are private to their author until published.
create policy owner_all on experiment
    using (created_by::text = current_setting('app.user_id', true))
    with check (created_by::text = current_setting('app.user_id', true));

create policy owner_all on prediction
    using (created_by::text = current_setting('app.user_id', true))
    with check (created_by::text = current_setting('app.user_id', true));

-- Back-end jobs (imports, model runs) act for every user.
create policy service_role_all on user_profile to service_role using (true) with check (true);
create policy service_role_all on property_type to service_role using (true) with check (true);
create policy service_role_all on molecule to service_role using (true) with check (true);
create policy service_role_all on mixture to service_role using (true) with check (true);
create policy service_role_all on mixture_component to service_role using (true) with check (true);
create policy service_role_all on experiment to service_role using (true) with check (true);
create policy service_role_all on prediction to service_role using (true) with check (true);

-- A policy only narrows what a privilege allows, so the service role also
-- needs the privileges themselves.
grant select, insert, update, delete on
    user_profile, property_type, molecule, mixture, mixture_component, experiment, prediction
    to service_role;
grant usage, select on sequence
    property_type_id_seq, molecule_id_seq, mixture_id_seq, experiment_id_seq, prediction_id_seq
    to service_role;
