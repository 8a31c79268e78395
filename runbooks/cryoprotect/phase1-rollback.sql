-- Phase 1 rollback: remove the row-level security added by phase1-security.sql.
--
-- Run it only after phase 2 has been rolled back (the tables have their
-- singular names again). The service_role role is left in place: roles belong
-- to the whole server and may be used by other databases.

do $$
begin
    if to_regclass('public.molecules') is not null then
        raise exception 'cannot roll back phase 1 (security lockdown) while phase 2 is applied (table molecules exists): roll back phase 2 first';
    end if;
    if not exists (select 1 from pg_class where oid = to_regclass('public.molecule') and relrowsecurity) then
        raise exception 'phase 1 (security lockdown) is not applied: row-level security is not enabled on table molecule; nothing to roll back';
    end if;
end
$$;

drop policy if exists self_access on user_profile;
drop policy if exists read_all on property_type;
drop policy if exists read_all on molecule;
drop policy if exists owner_write on molecule;
drop policy if exists read_all on mixture;
drop policy if exists owner_write on mixture;
drop policy if exists read_all on mixture_component;
drop policy if exists owner_write on mixture_component;
drop policy if exists owner_all on experiment;
drop policy if exists owner_all on prediction;

drop policy if exists service_role_all on user_profile;
drop policy if exists service_role_all on property_type;
drop policy if exists service_role_all on molecule;
drop policy if exists service_role_all on mixture;
drop policy if exists service_role_all on mixture_component;
drop policy if exists service_role_all on experiment;
drop policy if exists service_role_all on prediction;

alter table user_profile disable row level security;
alter table property_type disable row level security;
alter table molecule disable row level security;
alter table mixture disable row level security;
alter table mixture_component disable row level security;
alter table experiment disable row level security;
alter table prediction disable row level security;

-- service_role exists: the forward script created it, or it was already there.
revoke select, insert, update, delete on
    user_profile, property_type, molecule, mixture, mixture_component, experiment, prediction
    from service_role;
revoke usage, select on sequence
    property_type_id_seq, molecule_id_seq, mixture_id_seq, experiment_id_seq, prediction_id_seq
    from service_role;
