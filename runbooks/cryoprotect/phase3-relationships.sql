-- Phase 3: relationship remediation.
--
-- The fan trap: experiments.molecule_id names one molecule, while the
-- experiment's mixture lists its molecules again in mixture_components.
-- Queries that reach molecules through both paths disagree, and joins that
-- fan out from a mixture to its components and its experiments multiply
-- rows. The fix is one explicit many-to-many table, molecule_experiments,
-- saying which molecules an experiment studied and in what role. The old
-- column is renamed legacy_molecule_id so nothing can keep using it; phase 4
-- moves its data into molecule_experiments and drops it.
--
-- Third normal form: experiments.property_name/property_unit and
-- mixtures.creator_email are copies of values that belong to property_types
-- and user_profiles, and have drifted from them; they are dropped.
--
-- Foreign keys are added NOT VALID: enforced for every new or changed row
-- from now on, while the orphans already present are removed by phase 4,
-- which then validates them.
--
-- Undo: phase3-rollback.sql. Check: phase3-verify.sql.

do $$
begin
    if to_regclass('public.molecule_experiments') is not null then
        raise exception 'phase 3 (relationship remediation) is already applied: table molecule_experiments exists'
            using hint = 'Nothing to do. To apply it again, run phase3-rollback.sql first.';
    end if;
    if to_regclass('public.molecules') is null then
        raise exception 'phase 3 (relationship remediation) needs phase 2 (schema standardisation) first: table molecules does not exist';
    end if;
end
$$;

alter table experiments rename column molecule_id to legacy_molecule_id;

create table molecule_experiments (
    experiment_id integer not null,
    molecule_id integer not null,
    -- subject: the molecule under test; component: another molecule of the mixture tested
    role text not null,
    constraint molecule_experiments_pkey primary key (experiment_id, molecule_id),
    constraint molecule_experiments_role_check check (role in ('subject', 'component')),
    constraint molecule_experiments_experiment_id_fkey foreign key (experiment_id)
        references experiments (id) on delete cascade,
    constraint molecule_experiments_molecule_id_fkey foreign key (molecule_id)
        references molecules (id)
);

-- The new table joins the lockdown of phase 1: its rows are as private as
-- the experiments they belong to.
alter table molecule_experiments enable row level security;
create policy owner_all on molecule_experiments
    using (exists (select 1 from experiments e
                   where e.id = molecule_experiments.experiment_id
                     and e.created_by::text = current_setting('app.user_id', true)))
    with check (exists (select 1 from experiments e
                        where e.id = molecule_experiments.experiment_id
                          and e.created_by::text = current_setting('app.user_id', true)));
create policy service_role_all on molecule_experiments to service_role using (true) with check (true);
grant select, insert, update, delete on molecule_experiments to service_role;

alter table experiments drop column property_name, drop column property_unit;
alter table mixtures drop column creator_email;

-- Deleting a user keeps their science: rows just lose their owner.
alter table molecules add constraint molecules_created_by_fkey
    foreign key (created_by) references user_profiles (id) on delete set null not valid;
alter table mixtures add constraint mixtures_created_by_fkey
    foreign key (created_by) references user_profiles (id) on delete set null not valid;
alter table experiments add constraint experiments_created_by_fkey
    foreign key (created_by) references user_profiles (id) on delete set null not valid;
alter table predictions add constraint predictions_created_by_fkey
    foreign key (created_by) references user_profiles (id) on delete set null not valid;

-- A component or a prediction means nothing without its mixture; an
-- experiment is evidence and must not vanish with one.
alter table mixture_components add constraint mixture_components_mixture_id_fkey
    foreign key (mixture_id) references mixtures (id) on delete cascade not valid;
alter table mixture_components add constraint mixture_components_molecule_id_fkey
    foreign key (molecule_id) references molecules (id) not valid;
alter table experiments add constraint experiments_mixture_id_fkey
    foreign key (mixture_id) references mixtures (id) not valid;
alter table experiments add constraint experiments_property_type_id_fkey
    foreign key (property_type_id) references property_types (id) not valid;
alter table predictions add constraint predictions_mixture_id_fkey
    foreign key (mixture_id) references mixtures (id) on delete cascade not valid;
alter table predictions add constraint predictions_property_type_id_fkey
    foreign key (property_type_id) references property_types (id) not valid;
