-- Phase 3 rollback: back to experiments.molecule_id, the copied columns and
-- no foreign keys. Run it after phase 5 has been rolled back; it works
-- whether or not phase 4 ran:
--   * without phase 4, experiments.legacy_molecule_id still holds the data
--     and is renamed back;
--   * after phase 4 the column is gone, so it is recreated from the
--     'subject' rows of molecule_experiments.
-- The copied columns are recomputed from the tables they were copied from;
-- values that had drifted before phase 3 come back only with the backup.

do $$
begin
    if to_regclass('public.idx_predictions_mixture_property') is not null then
        raise exception 'cannot roll back phase 3 (relationship remediation) while phase 5 is applied (index idx_predictions_mixture_property exists): roll back phase 5 first';
    end if;
    if to_regclass('public.molecule_experiments') is null then
        raise exception 'phase 3 (relationship remediation) is not applied: table molecule_experiments does not exist; nothing to roll back';
    end if;
end
$$;

-- Foreign keys go first: the rows updated below may still be orphans.
alter table molecules drop constraint if exists molecules_created_by_fkey;
alter table mixtures drop constraint if exists mixtures_created_by_fkey;
alter table experiments drop constraint if exists experiments_created_by_fkey;
alter table predictions drop constraint if exists predictions_created_by_fkey;
alter table mixture_components drop constraint if exists mixture_components_mixture_id_fkey;
alter table mixture_components drop constraint if exists mixture_components_molecule_id_fkey;
alter table experiments drop constraint if exists experiments_mixture_id_fkey;
alter table experiments drop constraint if exists experiments_property_type_id_fkey;
alter table predictions drop constraint if exists predictions_mixture_id_fkey;
alter table predictions drop constraint if exists predictions_property_type_id_fkey;

do $$
begin
    if exists (select 1 from pg_attribute
               where attrelid = 'public.experiments'::regclass and attname = 'legacy_molecule_id'
                 and not attisdropped) then
        alter table experiments rename column legacy_molecule_id to molecule_id;
    else
        alter table experiments add column molecule_id integer;
        update experiments e set molecule_id = me.molecule_id
        from molecule_experiments me
        where me.experiment_id = e.id and me.role = 'subject';
    end if;
end
$$;

drop table molecule_experiments;

alter table experiments add column property_name text, add column property_unit text;
update experiments e set property_name = p.name, property_unit = p.unit
from property_types p
where p.id = e.property_type_id;

alter table mixtures add column creator_email text;
update mixtures m set creator_email = u.email
from user_profiles u
where u.id = m.created_by;
