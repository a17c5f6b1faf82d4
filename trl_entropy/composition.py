# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""Any set of methods in one run: `methods: [...]`.

    args = ComposedGRPOConfig(output_dir="out", methods=["entropy_advantage", "ppl", "paec"], ...)
    trainer = ComposedGRPOTrainer(model, reward_funcs, args=args, train_dataset=dataset)

Each method is a component ([`~trl_entropy.hook.Component`]); the trainer runs them in one documented order, whatever
the order of `methods` (see `docs/composition.md`):

1. data-side components (the semantic-entropy curriculum, brought by its dataset);
2. advantage shapers, each on the previous one's output: `ppl` (a per-completion weight on TRL's group advantage),
   `entropy_advantage` (`+ min(alpha H_t, |A_t| / kappa)`), `position` (the late-token bonus), `clip_cov` (advantage
   `0` at the selected tokens);
3. loss terms, added to TRL's loss: `paec`, `sent_kl`, `kl_cov`;
4. observers (`stages`, and the feeds of attached callbacks).

Each component keeps its own config fields, logs its own metrics and is listed, with its paper, in the model card.
Pairs that cannot work together are refused at construction with the reason.
"""

from dataclasses import dataclass, field

from .covariance.component import ClipCovShaper, KLCovPenalty
from .covariance.config import ClipCovGRPOConfig, KLCovGRPOConfig
from .entropy_advantage.component import EntropyAdvantageShaper
from .entropy_advantage.config import EntropyAdvantageGRPOConfig
from .hook.component import Component, config_option
from .hook.trainer import EntropyGRPOTrainer
from .paec.component import PAECRegularizer
from .paec.config import PAECGRPOConfig
from .position_shaping.component import PositionShaper
from .position_shaping.config import PositionShapingGRPOConfig
from .ppl_shaping.component import PPLShaper
from .ppl_shaping.config import PPLShapingGRPOConfig
from .sent.component import SENTKLPenalty
from .sent.config import SENTGRPOConfig
from .stages import StageDetection


# Every component a config can name, in their order of application.
COMPONENTS: dict[str, type[Component]] = {
    component.name: component
    for component in sorted(
        (
            PPLShaper,
            EntropyAdvantageShaper,
            PositionShaper,
            ClipCovShaper,
            PAECRegularizer,
            SENTKLPenalty,
            KLCovPenalty,
            StageDetection,
        ),
        key=lambda component: component.order,
    )  # fmt: skip
}
SHAPERS = {name: COMPONENTS[name] for name in ("ppl", "entropy_advantage", "position")}


def register_component(component_class: type[Component]) -> type[Component]:
    """Make a component of your own nameable in `methods: [...]` (usable as a class decorator). Its options are read
    from the run's config when it has the component's fields, else they take the defaults of its `config_class`."""
    name = component_class.name
    if not name or (name in COMPONENTS and COMPONENTS[name] is not component_class):
        raise ValueError(f"A component needs a `name` of its own to be registered, got {name!r}.")
    COMPONENTS[name] = component_class
    return component_class


# Components whose term is |log p - log p_old| and so needs off-policy updates.
_KL_TO_OLD = ("kl_cov", "sent_kl")


def check_methods(methods, field_name: str = "methods", valid: dict | None = None, allow_empty: bool = True) -> None:
    """Validate a list of method names: known (in `valid`, by default every component), distinct."""
    valid = COMPONENTS if valid is None else valid
    if isinstance(methods, str) or not isinstance(methods, list | tuple):
        raise ValueError(f"`{field_name}` must be a list of method names from {', '.join(valid)}, got {methods!r}.")
    methods = list(methods)
    unknown = [m for m in methods if m not in valid]
    if unknown or len(set(methods)) != len(methods) or not (methods or allow_empty):
        raise ValueError(
            f"`{field_name}` must be a {'' if allow_empty else 'non-empty '}list of distinct names from "
            f"{', '.join(valid)}, got {methods}."
        )


@dataclass
class ComposedGRPOConfig(
    PPLShapingGRPOConfig,
    EntropyAdvantageGRPOConfig,
    PositionShapingGRPOConfig,
    ClipCovGRPOConfig,
    PAECGRPOConfig,
    SENTGRPOConfig,
    KLCovGRPOConfig,
):
    r"""
    Configuration class for [`ComposedGRPOTrainer`]: every field of the methods' configs (each with its paper's
    default) and the list of methods to run.

    Parameters:
        methods (`list[str]`, *optional*, defaults to `[]`):
            Methods to run together, any of `ppl`, `entropy_advantage`, `position`, `clip_cov`, `paec`, `sent_kl`,
            `kl_cov`, `stages`; applied in that order (see `trl_entropy.composition`), whatever the order given.
            Empty: plain GRPO. When `steps_per_generation` and `generation_batch_size` are both unset it defaults to
            `2 * gradient_accumulation_steps` if a method is a KL to the old policy (`kl_cov`, `sent_kl` with
            `sent_kl_target="old"`), else to TRL's `gradient_accumulation_steps`.
    """

    methods: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Methods to run together, any of: ppl, entropy_advantage, position, clip_cov, paec, sent_kl, "
            "kl_cov, stages. Applied in that order, whatever the order given; empty: plain GRPO."
        },
    )

    def __post_init__(self):
        check_methods(self.methods)
        if self.steps_per_generation is None and self.generation_batch_size is None:
            # The off-policy default of SENT and KL-Cov only where such a term runs; otherwise TRL's default.
            kl_to_old = "kl_cov" in self.methods or (
                "sent_kl" in self.methods and self.sent_kl_target == "old" and self.sent_use_kl
            )
            self.steps_per_generation = (2 if kl_to_old else 1) * self.gradient_accumulation_steps
        super().__post_init__()


class ComposedGRPOTrainer(EntropyGRPOTrainer):
    r"""
    GRPO with any set of methods, each a component, run in the documented order (`trl_entropy.composition`). `args`
    may be a [`ComposedGRPOConfig`] or any [`~trl.GRPOConfig`] (then with no methods: plain GRPO). Pairs that cannot
    work together, and settings a component cannot work with, are refused at construction.
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "composed"]
    _name = "Composed GRPO"
    config_class = ComposedGRPOConfig
    _output_suffix = "Composed-GRPO"

    def method_names(self, args) -> list[str]:
        """The names of the methods `args` lists."""
        methods = list(config_option(args, ComposedGRPOConfig, "methods"))
        check_methods(methods)
        return methods

    def build_components(self, args) -> list[Component]:
        self._listed_methods = self.method_names(args)
        return [COMPONENTS[name](args) for name in self._listed_methods]

    def applied_methods(self) -> list[str]:
        """The listed methods in their order of application (without the components they brought)."""
        return [component.name for component in self.components if component.name in self._listed_methods]

    def method_hyperparameters(self):
        return {"methods": self.applied_methods(), **super().method_hyperparameters()}

    def card_method_info(self):
        info = super().card_method_info()
        info["method"] = " + ".join(["GRPO", *self.applied_methods()])
        return info


@dataclass
class ShapingGRPOConfig(PPLShapingGRPOConfig, EntropyAdvantageGRPOConfig, PositionShapingGRPOConfig):
    r"""
    Configuration class for [`ShapingGRPOTrainer`]: every field of [`PPLShapingGRPOConfig`],
    [`EntropyAdvantageGRPOConfig`] and [`PositionShapingGRPOConfig`], and the list of shapers to apply.

    Parameters:
        shaping_methods (`list[str]`, *optional*, defaults to `["entropy_advantage"]`):
            Methods to combine, any of `ppl`, `entropy_advantage`, `position`. They are applied in that fixed order
            (see `trl_entropy.composition`), whatever the order given here.
    """

    shaping_methods: list[str] = field(
        default_factory=lambda: ["entropy_advantage"],
        metadata={
            "help": "Advantage-shaping methods to combine, any of: ppl, entropy_advantage, position. Applied in that "
            "fixed order."
        },
    )

    def __post_init__(self):
        check_shaping_methods(self.shaping_methods)
        super().__post_init__()


def check_shaping_methods(methods) -> None:
    """Validate `shaping_methods`: a non-empty list of known, distinct shaper names."""
    check_methods(methods, "shaping_methods", SHAPERS, allow_empty=False)


class ShapingGRPOTrainer(ComposedGRPOTrainer):
    r"""
    GRPO with any combination of the advantage-shaping methods (perplexity, entropy advantage, position), applied in
    the fixed order `ppl`, `entropy_advantage`, `position`: a [`ComposedGRPOTrainer`] limited to the shapers, named
    by `shaping_methods`. `args` may be a [`ShapingGRPOConfig`] or any [`~trl.GRPOConfig`] (then with its defaults:
    the entropy advantage alone).
    """

    _tag_names = ["trl", "grpo", "trl-entropy", "advantage-shaping"]
    _name = "Advantage-Shaping GRPO"
    config_class = ShapingGRPOConfig
    _output_suffix = "Shaping-GRPO"

    def method_names(self, args) -> list[str]:
        methods = list(config_option(args, ShapingGRPOConfig, "shaping_methods"))
        check_shaping_methods(methods)
        return methods

    @property
    def shaping_methods(self) -> list[str]:
        return [shaper.name for shaper in self.advantage_shapers]

    def method_hyperparameters(self):
        # the shapers applied, in their order of application, also when there is only one
        values = EntropyGRPOTrainer.method_hyperparameters(self)
        return {"shaping_methods": self.shaping_methods, **values}

    def card_method_info(self):
        return EntropyGRPOTrainer.card_method_info(self)
