-- Rollback verification: after phase5-rollback, phase3-rollback,
-- phase2-rollback and phase1-rollback (in that order; phase 4 is undone by
-- the backup, not by a script) the structure is the starting one again.
-- Data removed by phases 2 and 4 is not part of this check.
-- Read-only. Each query returns one row per problem and nothing when all is well.

select format('table %s is missing', t.name) as problem
from (values ('user_profile'), ('property_type'), ('molecule'), ('mixture'), ('mixture_component'),
             ('experiment'), ('prediction')) as t(name)
where to_regclass('public.' || t.name) is null
order by 1;

select format('table %s still exists', t.name) as problem
from (values ('user_profiles'), ('property_types'), ('molecules'), ('mixtures'), ('mixture_components'),
             ('experiments'), ('predictions'), ('molecule_experiments')) as t(name)
where to_regclass('public.' || t.name) is not null
order by 1;

select format('row-level security is still enabled on table %s', c.relname) as problem
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and (c.relrowsecurity or c.relforcerowsecurity)
order by 1;

select format('policy %s still exists on table %s', p.policyname, p.tablename) as problem
from pg_policies p
where p.schemaname = 'public'
order by 1;

-- The starting schema has exactly two constraints and two indexes: the
-- primary keys of user_profile and property_type.
select format('constraint %s on table %s was not there at the start', k.conname, k.conrelid::regclass) as problem
from pg_constraint k
where k.connamespace = 'public'::regnamespace and k.conname not in ('user_profile_pkey', 'property_type_pkey')
order by 1;

select format('index %s was not there at the start', c.relname) as problem
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('i', 'I')
  and c.relname not in ('user_profile_pkey', 'property_type_pkey')
order by 1;

select format('column %s.%s is NOT NULL, it was nullable at the start', c.relname, a.attname) as problem
from pg_attribute a join pg_class c on c.oid = a.attrelid
where c.relnamespace = 'public'::regnamespace and c.relkind = 'r'
  and a.attnum > 0 and not a.attisdropped and a.attnotnull and a.attname <> 'id'
order by 1;

select format('column %s.%s is missing', col.tbl, col.name) as problem
from (values ('experiment', 'molecule_id'), ('experiment', 'property_name'), ('experiment', 'property_unit'),
             ('mixture', 'creator_email')) as col(tbl, name)
where not exists (select 1 from pg_attribute a
                  where a.attrelid = to_regclass('public.' || col.tbl) and a.attname = col.name and not a.attisdropped)
order by 1;

select 'column experiment.legacy_molecule_id still exists' as problem
where exists (select 1 from pg_attribute
              where attrelid = to_regclass('public.experiment') and attname = 'legacy_molecule_id'
                and not attisdropped);

select format('sequence %s is missing', s.name) as problem
from (values ('property_type_id_seq'), ('molecule_id_seq'), ('mixture_id_seq'), ('experiment_id_seq'),
             ('prediction_id_seq')) as s(name)
where to_regclass('public.' || s.name) is null
order by 1;

select format('role service_role still has %s on %s', a.privilege_type, c.relname) as problem
from pg_class c
cross join lateral aclexplode(c.relacl) a
join pg_roles r on r.oid = a.grantee
where c.relnamespace = 'public'::regnamespace and r.rolname = 'service_role'
order by 1;
