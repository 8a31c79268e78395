-- Phase 5 rollback: drop the indexes phase 5 created. Nothing else depends
-- on them, so this is safe at any time after phase 5.

do $$
begin
    if to_regclass('public.idx_predictions_mixture_property') is null then
        raise exception 'phase 5 (performance) is not applied: index idx_predictions_mixture_property does not exist; nothing to roll back';
    end if;
end
$$;

drop index if exists idx_predictions_mixture_property;
drop index if exists idx_predictions_property_type;
drop index if exists idx_experiments_mixture_property;
drop index if exists idx_experiments_property_type;
drop index if exists idx_mixture_components_molecule;
drop index if exists idx_molecule_experiments_molecule;
drop index if exists idx_molecules_created_by;
drop index if exists idx_mixtures_created_by;
drop index if exists idx_experiments_created_by;
drop index if exists idx_predictions_created_by;
drop index if exists idx_molecules_name_lower;
drop index if exists idx_mixtures_name_lower;
drop index if exists idx_molecules_smiles;
drop index if exists idx_molecules_name_trgm;
