-- Phase 3 verification: the fan trap is gone, the copied columns are gone,
-- and every relationship is a declared foreign key.
-- Read-only. Each query returns one row per problem and nothing when all is well.
-- (Whether the existing rows satisfy the keys is phase 4's check.)

select 'table molecule_experiments does not exist' as problem
where to_regclass('public.molecule_experiments') is null;

select 'table molecule_experiments has no primary key on (experiment_id, molecule_id)' as problem
where to_regclass('public.molecule_experiments') is not null
  and not exists (select 1 from pg_constraint k
                  where k.conrelid = to_regclass('public.molecule_experiments') and k.contype = 'p'
                    and pg_get_constraintdef(k.oid) = 'PRIMARY KEY (experiment_id, molecule_id)');

-- Reaching a molecule from an experiment must go through molecule_experiments.
select format('column %s.molecule_id still exists: an experiment reaches molecules two ways (fan trap)', c.relname)
           as problem
from pg_class c
where c.oid in (to_regclass('public.experiments'), to_regclass('public.experiment'))
  and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'molecule_id' and not a.attisdropped);

select format('column %s.%s copies data from another table (not in third normal form)', copied.tbl, copied.col)
           as problem
from (values ('experiments', 'property_name'), ('experiments', 'property_unit'), ('mixtures', 'creator_email'),
             ('experiment', 'property_name'), ('experiment', 'property_unit'), ('mixture', 'creator_email'))
         as copied(tbl, col)
where exists (select 1 from pg_attribute a
              where a.attrelid = to_regclass('public.' || copied.tbl) and a.attname = copied.col and not a.attisdropped)
order by copied.tbl, copied.col;

select format('no foreign key from %s.%s to %s', fk.tbl, fk.col, fk.target) as problem
from (values ('molecules', 'created_by', 'user_profiles'),
             ('mixtures', 'created_by', 'user_profiles'),
             ('experiments', 'created_by', 'user_profiles'),
             ('predictions', 'created_by', 'user_profiles'),
             ('mixture_components', 'mixture_id', 'mixtures'),
             ('mixture_components', 'molecule_id', 'molecules'),
             ('experiments', 'mixture_id', 'mixtures'),
             ('experiments', 'property_type_id', 'property_types'),
             ('predictions', 'mixture_id', 'mixtures'),
             ('predictions', 'property_type_id', 'property_types'),
             ('molecule_experiments', 'experiment_id', 'experiments'),
             ('molecule_experiments', 'molecule_id', 'molecules')) as fk(tbl, col, target)
where not exists (select 1 from pg_constraint k
                  join pg_attribute a on a.attrelid = k.conrelid and a.attnum = k.conkey[1]
                  where k.contype = 'f' and k.conrelid = to_regclass('public.' || fk.tbl)
                    and cardinality(k.conkey) = 1 and a.attname = fk.col
                    and k.confrelid = to_regclass('public.' || fk.target))
order by fk.tbl, fk.col;
