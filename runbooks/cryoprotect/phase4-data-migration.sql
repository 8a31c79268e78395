-- Phase 4: data migration.
--
-- Repairs the data so that every constraint declared by phases 2 and 3
-- holds, then makes them binding:
--   1. values typed in the wrong unit are converted;
--   2. owners that no longer exist are cleared (the rows stay);
--   3. orphaned components, predictions and experiments are deleted;
--   4. molecules registered twice (same SMILES) are merged into the oldest id;
--   5. the value checks are added and the foreign keys validated;
--   6. molecule_experiments is filled from the legacy column, which is then
--      dropped.
-- There is no rollback script: deleted and merged rows come back only by
-- restoring the pre-remediation backup.
--
-- Check: phase4-verify.sql.

do $$
begin
    if to_regclass('public.molecule_experiments') is null then
        raise exception 'phase 4 (data migration) needs phase 3 (relationship remediation) first: table molecule_experiments does not exist';
    end if;
    if not exists (select 1 from pg_attribute
                   where attrelid = 'public.experiments'::regclass and attname = 'legacy_molecule_id'
                     and not attisdropped) then
        raise exception 'phase 4 (data migration) is already applied: column experiments.legacy_molecule_id is gone'
            using hint = 'Nothing to do. Phase 4 has no rollback script; restore the backup to run it again.';
    end if;
end
$$;

-- 1. Wrong units. The import lost the sign of some concentrations, some
-- temperatures were typed in Celsius (-196 is liquid nitrogen), and some
-- confidences were stored as percentages. Repairing these first matters:
-- any later UPDATE of such a row would otherwise trip the checks of step 5.
update mixture_components set concentration = -concentration where concentration < 0;
update experiments set temperature_k = temperature_k + 273.15 where temperature_k <= 0;
update predictions set confidence = confidence / 100 where confidence > 1;

-- 2. Owners whose account was deleted.
update molecules t set created_by = null
where created_by is not null and not exists (select 1 from user_profiles u where u.id = t.created_by);
update mixtures t set created_by = null
where created_by is not null and not exists (select 1 from user_profiles u where u.id = t.created_by);
update experiments t set created_by = null
where created_by is not null and not exists (select 1 from user_profiles u where u.id = t.created_by);
update predictions t set created_by = null
where created_by is not null and not exists (select 1 from user_profiles u where u.id = t.created_by);

-- 3. Orphans: rows that point at a mixture, molecule or property type that
-- does not exist carry no usable meaning.
delete from mixture_components c
where not exists (select 1 from mixtures m where m.id = c.mixture_id)
   or not exists (select 1 from molecules m where m.id = c.molecule_id);

delete from predictions p
where not exists (select 1 from mixtures m where m.id = p.mixture_id)
   or not exists (select 1 from property_types t where t.id = p.property_type_id);

delete from experiments e
where (e.mixture_id is not null and not exists (select 1 from mixtures m where m.id = e.mixture_id))
   or not exists (select 1 from property_types t where t.id = e.property_type_id)
   or (e.legacy_molecule_id is not null
       and not exists (select 1 from molecules m where m.id = e.legacy_molecule_id));

-- 4. Molecules registered twice. The canonical record is the lowest id among
-- rows with the same SMILES. A mixture that lists a molecule under two ids
-- keeps only the line with the lower id, then every reference moves to the
-- canonical id, then the duplicates go.
delete from mixture_components c
using (select id, min(id) over (partition by smiles) as keep_id from molecules) m
where c.molecule_id = m.id and m.id <> m.keep_id
  and exists (select 1
              from mixture_components other
              join (select id, min(id) over (partition by smiles) as keep_id from molecules) om
                on om.id = other.molecule_id
              where other.mixture_id = c.mixture_id and om.keep_id = m.keep_id
                and other.molecule_id < c.molecule_id);

update mixture_components c set molecule_id = m.keep_id
from (select id, min(id) over (partition by smiles) as keep_id from molecules) m
where c.molecule_id = m.id and m.id <> m.keep_id;

update experiments e set legacy_molecule_id = m.keep_id
from (select id, min(id) over (partition by smiles) as keep_id from molecules) m
where e.legacy_molecule_id = m.id and m.id <> m.keep_id;

delete from molecules d
where exists (select 1 from molecules older where older.smiles = d.smiles and older.id < d.id);

-- 5. Now the data satisfies them: add the value checks and make the foreign
-- keys of phase 3 binding for the rows that were there before it.
alter table mixture_components add constraint mixture_components_concentration_check
    check (concentration >= 0);
alter table experiments add constraint experiments_temperature_k_check check (temperature_k > 0);
alter table predictions add constraint predictions_confidence_check check (confidence between 0 and 1);

alter table molecules validate constraint molecules_created_by_fkey;
alter table mixtures validate constraint mixtures_created_by_fkey;
alter table experiments validate constraint experiments_created_by_fkey;
alter table predictions validate constraint predictions_created_by_fkey;
alter table mixture_components validate constraint mixture_components_mixture_id_fkey;
alter table mixture_components validate constraint mixture_components_molecule_id_fkey;
alter table experiments validate constraint experiments_mixture_id_fkey;
alter table experiments validate constraint experiments_property_type_id_fkey;
alter table predictions validate constraint predictions_mixture_id_fkey;
alter table predictions validate constraint predictions_property_type_id_fkey;

-- 6. Resolve the fan trap in the data: the molecule an experiment named is
-- its subject, and for a mixture experiment every other component of the
-- mixture is recorded too, once.
insert into molecule_experiments (experiment_id, molecule_id, role)
select id, legacy_molecule_id, 'subject'
from experiments
where legacy_molecule_id is not null;

insert into molecule_experiments (experiment_id, molecule_id, role)
select e.id, c.molecule_id, 'component'
from experiments e
join mixture_components c on c.mixture_id = e.mixture_id
on conflict (experiment_id, molecule_id) do nothing;

alter table experiments drop column legacy_molecule_id;
