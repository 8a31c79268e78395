-- Phase 2 verification: plural table names, a primary key on every table,
-- the NOT NULL and CHECK constraints phase 2 declares.
-- Read-only. Each query returns one row per problem and nothing when all is well.

select format('table %s has not been renamed to %s', names.singular, names.plural) as problem
from (values ('user_profile', 'user_profiles'), ('property_type', 'property_types'),
             ('molecule', 'molecules'), ('mixture', 'mixtures'),
             ('mixture_component', 'mixture_components'), ('experiment', 'experiments'),
             ('prediction', 'predictions')) as names(singular, plural)
where to_regclass('public.' || names.plural) is null
order by names.plural;

select format('table %s has no primary key', c.relname) as problem
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
  and not exists (select 1 from pg_constraint k where k.conrelid = c.oid and k.contype = 'p')
order by c.relname;

select format('column %s.%s allows NULL', required.tbl, required.col) as problem
from (values ('user_profiles', 'email'), ('user_profiles', 'display_name'), ('user_profiles', 'created_at'),
             ('property_types', 'name'), ('property_types', 'unit'),
             ('molecules', 'name'), ('molecules', 'smiles'), ('molecules', 'molecular_weight'),
             ('molecules', 'created_at'),
             ('mixtures', 'name'), ('mixtures', 'created_at'),
             ('mixture_components', 'concentration'), ('mixture_components', 'concentration_unit'),
             ('experiments', 'name'), ('experiments', 'property_type_id'), ('experiments', 'value'),
             ('experiments', 'temperature_k'), ('experiments', 'experiment_date'), ('experiments', 'created_at'),
             ('predictions', 'mixture_id'), ('predictions', 'property_type_id'),
             ('predictions', 'predicted_value'), ('predictions', 'confidence'), ('predictions', 'model_name'),
             ('predictions', 'created_at')) as required(tbl, col)
where not exists (select 1 from pg_attribute a
                  where a.attrelid = to_regclass('public.' || required.tbl)
                    and a.attname = required.col and a.attnotnull and not a.attisdropped)
order by required.tbl, required.col;

select format('check constraint %s is missing on table %s', expected.con, expected.tbl) as problem
from (values ('user_profiles', 'user_profiles_email_check'), ('user_profiles', 'user_profiles_role_check'),
             ('molecules', 'molecules_name_check'), ('molecules', 'molecules_molecular_weight_check'),
             ('mixture_components', 'mixture_components_concentration_unit_check')) as expected(tbl, con)
where not exists (select 1 from pg_constraint k
                  where k.conrelid = to_regclass('public.' || expected.tbl)
                    and k.conname = expected.con and k.contype = 'c')
order by expected.tbl, expected.con;
