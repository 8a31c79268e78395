-- Phase 4 verification: the data is whole.
-- Read-only. Each query returns one row per problem and nothing when all is
-- well. The first two queries read only the catalogue; the data queries
-- need the tables of phases 2 and 3, so on an older schema they stop with
-- "relation does not exist", which also fails the verification.

select 'phase 3 is not applied: table molecule_experiments does not exist' as problem
where to_regclass('public.molecule_experiments') is null;

select 'column experiments.legacy_molecule_id still exists: its data has not been moved to molecule_experiments'
           as problem
where exists (select 1 from pg_attribute
              where attrelid = to_regclass('public.experiments') and attname = 'legacy_molecule_id'
                and not attisdropped);

-- A constraint that is NOT VALID still lets old rows break it.
select format('constraint %s on table %s is not validated', k.conname, k.conrelid::regclass) as problem
from pg_constraint k
where k.connamespace = 'public'::regnamespace and not k.convalidated
order by 1;

select format('check constraint %s is missing on table %s', expected.con, expected.tbl) as problem
from (values ('mixture_components', 'mixture_components_concentration_check'),
             ('experiments', 'experiments_temperature_k_check'),
             ('predictions', 'predictions_confidence_check')) as expected(tbl, con)
where not exists (select 1 from pg_constraint k
                  where k.conrelid = to_regclass('public.' || expected.tbl) and k.conname = expected.con)
order by 1;

select format('%s mixture_components rows point at a missing mixture or molecule', count(*)) as problem
from mixture_components c
where not exists (select 1 from mixtures m where m.id = c.mixture_id)
   or not exists (select 1 from molecules m where m.id = c.molecule_id)
having count(*) > 0;

select format('%s experiments rows point at a missing mixture or property type', count(*)) as problem
from experiments e
where (e.mixture_id is not null and not exists (select 1 from mixtures m where m.id = e.mixture_id))
   or not exists (select 1 from property_types t where t.id = e.property_type_id)
having count(*) > 0;

select format('%s predictions rows point at a missing mixture or property type', count(*)) as problem
from predictions p
where not exists (select 1 from mixtures m where m.id = p.mixture_id)
   or not exists (select 1 from property_types t where t.id = p.property_type_id)
having count(*) > 0;

select format('%s rows of %s are owned by a user that does not exist', count(*), owned.tbl) as problem
from (select 'molecules' as tbl, created_by from molecules
      union all select 'mixtures', created_by from mixtures
      union all select 'experiments', created_by from experiments
      union all select 'predictions', created_by from predictions) as owned
where owned.created_by is not null
  and not exists (select 1 from user_profiles u where u.id = owned.created_by)
group by owned.tbl
order by owned.tbl;

select format('molecule %s is registered %s times (ids %s)', (array_agg(name order by id))[1], count(*),
              string_agg(id::text, ', ' order by id))
           as problem
from molecules
group by smiles
having count(*) > 1
order by min(id);

select format('%s experiments are linked to no molecule in molecule_experiments', count(*)) as problem
from experiments e
where not exists (select 1 from molecule_experiments me where me.experiment_id = e.id)
having count(*) > 0;

select format('%s experiments have no subject molecule or more than one', count(*)) as problem
from experiments e
where (select count(*) from molecule_experiments me
       where me.experiment_id = e.id and me.role = 'subject') <> 1
having count(*) > 0;

select format('%s values are out of range (negative concentration, temperature <= 0 K, confidence outside 0..1)',
              count(*)) as problem
from (select 1 from mixture_components where concentration < 0
      union all select 1 from experiments where temperature_k <= 0
      union all select 1 from predictions where confidence not between 0 and 1) as bad
having count(*) > 0;
