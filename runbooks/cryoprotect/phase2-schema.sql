-- Phase 2: schema standardisation.
--
-- Table names become plural (the convention of every other CryoProtect
-- service), exact duplicate rows from double imports are removed so that
-- every table can get a primary key, and the columns the application
-- always fills become NOT NULL. CHECK constraints that the current data
-- already satisfies are added here; the ones that need the data repaired
-- first (negative concentrations, Celsius temperatures, percentage
-- confidences) are added by phase 4 after the repair.
--
-- Undo: phase2-rollback.sql. Check: phase2-verify.sql.

do $$
begin
    if to_regclass('public.molecules') is not null then
        raise exception 'phase 2 (schema standardisation) is already applied: table molecules exists'
            using hint = 'Nothing to do. To apply it again, run phase2-rollback.sql first.';
    end if;
    if to_regclass('public.molecule') is null then
        raise exception 'phase 2 (schema standardisation) needs the CryoProtect schema: table molecule not found';
    end if;
    if not exists (select 1 from pg_class where oid = to_regclass('public.molecule') and relrowsecurity) then
        raise exception 'phase 2 (schema standardisation) needs phase 1 (security lockdown) first: row-level security is not enabled on table molecule';
    end if;
end
$$;

-- Policies and grants follow the tables through a rename.
alter table user_profile rename to user_profiles;
alter table property_type rename to property_types;
alter table molecule rename to molecules;
alter table mixture rename to mixtures;
alter table mixture_component rename to mixture_components;
alter table experiment rename to experiments;
alter table prediction rename to predictions;

-- Sequences and the two existing primary keys carry the old table name.
alter sequence property_type_id_seq rename to property_types_id_seq;
alter sequence molecule_id_seq rename to molecules_id_seq;
alter sequence mixture_id_seq rename to mixtures_id_seq;
alter sequence experiment_id_seq rename to experiments_id_seq;
alter sequence prediction_id_seq rename to predictions_id_seq;
alter table user_profiles rename constraint user_profile_pkey to user_profiles_pkey;
alter table property_types rename constraint property_type_pkey to property_types_pkey;

-- Exact duplicates (every column equal) are copies from a repeated import:
-- keep the first physical copy. Rows that share an id but differ would stop
-- the primary key below with a "could not create unique index" error, which
-- is what we want: those need a human decision.
delete from molecules t using (
    select ctid as row_ctid, row_number() over (partition by d order by ctid) as copy_no from molecules d
) copies where t.ctid = copies.row_ctid and copies.copy_no > 1;

delete from mixtures t using (
    select ctid as row_ctid, row_number() over (partition by d order by ctid) as copy_no from mixtures d
) copies where t.ctid = copies.row_ctid and copies.copy_no > 1;

delete from mixture_components t using (
    select ctid as row_ctid, row_number() over (partition by d order by ctid) as copy_no from mixture_components d
) copies where t.ctid = copies.row_ctid and copies.copy_no > 1;

delete from experiments t using (
    select ctid as row_ctid, row_number() over (partition by d order by ctid) as copy_no from experiments d
) copies where t.ctid = copies.row_ctid and copies.copy_no > 1;

delete from predictions t using (
    select ctid as row_ctid, row_number() over (partition by d order by ctid) as copy_no from predictions d
) copies where t.ctid = copies.row_ctid and copies.copy_no > 1;

alter table molecules add constraint molecules_pkey primary key (id);
alter table mixtures add constraint mixtures_pkey primary key (id);
alter table mixture_components add constraint mixture_components_pkey primary key (mixture_id, molecule_id);
alter table experiments add constraint experiments_pkey primary key (id);
alter table predictions add constraint predictions_pkey primary key (id);

alter table user_profiles
    alter column email set not null,
    alter column display_name set not null,
    alter column created_at set not null;
alter table property_types
    alter column name set not null,
    alter column unit set not null;
alter table molecules
    alter column name set not null,
    alter column smiles set not null,
    alter column molecular_weight set not null,
    alter column created_at set not null;
alter table mixtures
    alter column name set not null,
    alter column created_at set not null;
alter table mixture_components
    alter column concentration set not null,
    alter column concentration_unit set not null;
alter table experiments
    alter column name set not null,
    alter column property_type_id set not null,
    alter column value set not null,
    alter column temperature_k set not null,
    alter column experiment_date set not null,
    alter column created_at set not null;
alter table predictions
    alter column mixture_id set not null,
    alter column property_type_id set not null,
    alter column predicted_value set not null,
    alter column confidence set not null,
    alter column model_name set not null,
    alter column created_at set not null;

alter table user_profiles add constraint user_profiles_email_check
    check (email ~ '^[^@[:space:]]+@[^@[:space:]]+$');
alter table user_profiles add constraint user_profiles_role_check
    check (role in ('admin', 'researcher', 'viewer'));
alter table molecules add constraint molecules_name_check check (btrim(name) <> '');
alter table molecules add constraint molecules_molecular_weight_check check (molecular_weight > 0);
alter table mixture_components add constraint mixture_components_concentration_unit_check
    check (concentration_unit in ('%w/v', '%v/v', 'M', 'mM'));
