-- Phase 5 verification: the indexes exist and are usable, and every foreign
-- key has an index that starts with its columns.
-- Read-only. Each query returns one row per problem and nothing when all is well.

select format('index %s does not exist', expected.name) as problem
from (values ('idx_predictions_mixture_property'), ('idx_predictions_property_type'),
             ('idx_experiments_mixture_property'), ('idx_experiments_property_type'),
             ('idx_mixture_components_molecule'), ('idx_molecule_experiments_molecule'),
             ('idx_molecules_created_by'), ('idx_mixtures_created_by'), ('idx_experiments_created_by'),
             ('idx_predictions_created_by'), ('idx_molecules_name_lower'), ('idx_mixtures_name_lower'),
             ('idx_molecules_smiles')) as expected(name)
where to_regclass('public.' || expected.name) is null
order by 1;

select format('index %s is not valid or not ready (a failed build?)', c.relname) as problem
from pg_index i join pg_class c on c.oid = i.indexrelid
where c.relnamespace = 'public'::regnamespace and not (i.indisvalid and i.indisready)
order by 1;

select 'index idx_molecules_smiles is not unique' as problem
where exists (select 1 from pg_index where indexrelid = to_regclass('public.idx_molecules_smiles') and not indisunique);

select format('foreign key %s on table %s has no index on its columns', k.conname, k.conrelid::regclass) as problem
from pg_constraint k
where k.contype = 'f' and k.connamespace = 'public'::regnamespace
  and not exists (select 1 from pg_index i
                  where i.indrelid = k.conrelid
                    and (string_to_array(i.indkey::text, ' ')::smallint[])[1:cardinality(k.conkey)] = k.conkey)
order by 1;
