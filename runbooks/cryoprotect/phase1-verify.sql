-- Phase 1 verification: every table is behind row-level security.
-- Read-only. Each query returns one row per problem and nothing when all is well.
-- It checks every table in schema public, so tables added by later phases
-- (molecule_experiments) are held to the same rule.

select 'role service_role does not exist' as problem
where not exists (select 1 from pg_roles where rolname = 'service_role');

select format('row-level security is not enabled on table %s', c.relname) as problem
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p') and not c.relrowsecurity
order by c.relname;

select format('table %s has no policy for service_role', c.relname) as problem
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
  and not exists (select 1 from pg_policies p
                  where p.schemaname = 'public' and p.tablename = c.relname and 'service_role' = any (p.roles))
order by c.relname;

-- Without a policy for ordinary users RLS would hide the table from the app.
select format('table %s has no policy for application users', c.relname) as problem
from pg_class c
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
  and not exists (select 1 from pg_policies p
                  where p.schemaname = 'public' and p.tablename = c.relname and 'public' = any (p.roles))
order by c.relname;

-- A write policy that is always true for everyone is no lockdown at all.
select format('policy %s on table %s lets anyone %s any row', p.policyname, p.tablename, lower(p.cmd)) as problem
from pg_policies p
where p.schemaname = 'public' and 'public' = any (p.roles)
  and p.cmd in ('ALL', 'INSERT', 'UPDATE', 'DELETE')
  and (p.qual = 'true' or p.with_check = 'true')
order by p.tablename, p.policyname;

select format('role service_role lacks %s on table %s', priv.name, c.relname) as problem
from pg_class c
cross join (values ('SELECT'), ('INSERT'), ('UPDATE'), ('DELETE')) as priv(name)
where c.relnamespace = 'public'::regnamespace and c.relkind in ('r', 'p')
  and not exists (select 1 from aclexplode(c.relacl) a join pg_roles r on r.oid = a.grantee
                  where r.rolname = 'service_role' and a.privilege_type = priv.name)
order by c.relname, priv.name;
