-- Phase 2 rollback: singular table names and the original, unconstrained
-- columns again. Run it after phase 3 has been rolled back. It also drops
-- the value checks phase 4 adds, since those live on phase 2's tables.
-- Removed duplicate rows are not brought back: restore the backup for that.

do $$
begin
    if to_regclass('public.molecule_experiments') is not null then
        raise exception 'cannot roll back phase 2 (schema standardisation) while phase 3 is applied (table molecule_experiments exists): roll back phase 3 first';
    end if;
    if to_regclass('public.molecules') is null then
        raise exception 'phase 2 (schema standardisation) is not applied: table molecules does not exist; nothing to roll back';
    end if;
end
$$;

alter table mixture_components drop constraint if exists mixture_components_concentration_check;
alter table experiments drop constraint if exists experiments_temperature_k_check;
alter table predictions drop constraint if exists predictions_confidence_check;

alter table user_profiles drop constraint if exists user_profiles_email_check;
alter table user_profiles drop constraint if exists user_profiles_role_check;
alter table molecules drop constraint if exists molecules_name_check;
alter table molecules drop constraint if exists molecules_molecular_weight_check;
alter table mixture_components drop constraint if exists mixture_components_concentration_unit_check;

alter table molecules drop constraint if exists molecules_pkey;
alter table mixtures drop constraint if exists mixtures_pkey;
alter table mixture_components drop constraint if exists mixture_components_pkey;
alter table experiments drop constraint if exists experiments_pkey;
alter table predictions drop constraint if exists predictions_pkey;

-- Dropping a primary key leaves its columns NOT NULL, so the composite key
-- columns of mixture_components are released explicitly. The serial id
-- columns were NOT NULL from the start and stay so.
alter table user_profiles
    alter column email drop not null,
    alter column display_name drop not null,
    alter column created_at drop not null;
alter table property_types
    alter column name drop not null,
    alter column unit drop not null;
alter table molecules
    alter column name drop not null,
    alter column smiles drop not null,
    alter column molecular_weight drop not null,
    alter column created_at drop not null;
alter table mixtures
    alter column name drop not null,
    alter column created_at drop not null;
alter table mixture_components
    alter column mixture_id drop not null,
    alter column molecule_id drop not null,
    alter column concentration drop not null,
    alter column concentration_unit drop not null;
alter table experiments
    alter column name drop not null,
    alter column property_type_id drop not null,
    alter column value drop not null,
    alter column temperature_k drop not null,
    alter column experiment_date drop not null,
    alter column created_at drop not null;
alter table predictions
    alter column mixture_id drop not null,
    alter column property_type_id drop not null,
    alter column predicted_value drop not null,
    alter column confidence drop not null,
    alter column model_name drop not null,
    alter column created_at drop not null;

alter table user_profiles rename constraint user_profiles_pkey to user_profile_pkey;
alter table property_types rename constraint property_types_pkey to property_type_pkey;
alter sequence property_types_id_seq rename to property_type_id_seq;
alter sequence molecules_id_seq rename to molecule_id_seq;
alter sequence mixtures_id_seq rename to mixture_id_seq;
alter sequence experiments_id_seq rename to experiment_id_seq;
alter sequence predictions_id_seq rename to prediction_id_seq;

alter table user_profiles rename to user_profile;
alter table property_types rename to property_type;
alter table molecules rename to molecule;
alter table mixtures rename to mixture;
alter table mixture_components rename to mixture_component;
alter table experiments rename to experiment;
alter table predictions rename to prediction;
