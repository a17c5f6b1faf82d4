# Copyright 2026 The trl-entropy authors. Licensed under the Apache License, Version 2.0.
"""The QLoRA recipe's 4-bit policy keeps training after every generation path of a recipe run: the held-out
evaluation, the in-training `EvaluationCallback`, TRL's own generation and the `TokenEntropyRecorder`.

On a CPU with AVX512-BF16, an eval-mode forward of a bitsandbytes `Linear4bit` repacks its weight into an
inference-only layout that can no longer train (see `trl_entropy.quantization.keep_4bit_training_layout`).
"""

import json
from pathlib import Path

import pytest
import torch

from trl_entropy.quantization import has_cpu_inference_layout, keep_4bit_training_layout
from trl_entropy.scripts.train import main


bnb = pytest.importorskip("bitsandbytes")
QLORA_RECIPE = Path(__file__).resolve().parent.parent / "recipes" / "tiny" / "entropy_advantage_qlora.yaml"


@pytest.fixture
def qlora_policy():
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM, BitsAndBytesConfig

    from trl_entropy.tasks import TINY_POLICY_PATH

    quantization = BitsAndBytesConfig(
        load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_compute_dtype=torch.float32
    )
    model = AutoModelForCausalLM.from_pretrained(
        TINY_POLICY_PATH, dtype=torch.float32, quantization_config=quantization
    )
    lora = LoraConfig(r=4, lora_alpha=8, lora_dropout=0.0, target_modules=["q_proj", "o_proj", "down_proj"])
    return get_peft_model(model, lora)


def first_layer_lora_grad(model, input_ids) -> float:
    """Gradient norm of the first layer's LoRA weights after a training forward and backward."""
    model.train()
    model.zero_grad()
    model(input_ids=input_ids).logits.sum().backward()
    first = model.base_model.model.model.layers[0].self_attn.q_proj.lora_B["default"].weight
    return first.grad.norm().item()


def test_generation_keeps_the_training_layout(qlora_policy, tokenizer):
    model = qlora_policy
    input_ids = tokenizer(["3 12 11=135:"], return_tensors="pt", add_special_tokens=False)["input_ids"]
    torch.nn.init.normal_(model.base_model.model.model.layers[0].self_attn.q_proj.lora_B["default"].weight)
    grad_before = first_layer_lora_grad(model, input_ids)
    with torch.no_grad():
        train_mode_logits = model(input_ids=input_ids).logits

    model.eval()
    with keep_4bit_training_layout(model), torch.no_grad():
        eval_logits = model(input_ids=input_ids).logits
        model.generate(input_ids, max_new_tokens=4, do_sample=False, pad_token_id=tokenizer.pad_token_id)
    assert not has_cpu_inference_layout(model)
    # The same dequantise-and-matmul path as the training forward (no dropout here): the same logits.
    torch.testing.assert_close(eval_logits, train_mode_logits, rtol=0, atol=0)
    # Gradient still flows through the frozen 4-bit layers to the first layer's adapter, unchanged.
    assert grad_before > 0
    assert first_layer_lora_grad(model, input_ids) == pytest.approx(grad_before, rel=1e-5)
    # The context restored bitsandbytes' own setting afterwards.
    layers = [m for m in model.modules() if isinstance(m, bnb.nn.Linear4bit)]
    assert [layer.support_avx512bf16_for_cpu for layer in layers] == [bnb.functional.has_avx512bf16()] * len(layers)


def test_generation_without_the_context_repacks_on_this_cpu(qlora_policy, tokenizer):
    # What the context prevents; bitsandbytes only repacks on a CPU with AVX512-BF16.
    model = qlora_policy.eval()
    input_ids = tokenizer(["3 12 11=135:"], return_tensors="pt", add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        model(input_ids=input_ids)
    assert has_cpu_inference_layout(model) == bnb.functional.has_avx512bf16()


def test_qlora_recipe_with_in_training_evaluation_and_token_entropies(tmp_path):
    # Step 1 is followed by an EvaluationCallback evaluation (eval mode, HF generate), then step 2 trains; the
    # recorder reads the entropies of the training forward. The held-out evaluation runs before and after.
    argv = ["--config", str(QLORA_RECIPE), "--output_dir", str(tmp_path), "--max_steps", "2", "--report_to", "none"]
    argv += ["--task_eval_problems", "4", "--task_eval_samples", "1", "--disable_tqdm", "true"]
    argv += ["--eval_benchmark", "countdown", "--eval_benchmark_steps", "1", "--eval_benchmark_problems", "4"]
    argv += ["--eval_benchmark_samples", "1", "--record_token_entropies_every", "1"]
    trainer = main(argv)
    assert trainer.state.global_step == 2
    evaluations = [entry for entry in trainer.state.log_history if any(k.startswith("eval/countdown/") for k in entry)]
    assert len(evaluations) == 2
    records = [json.loads(line) for line in (tmp_path / "token_entropies.jsonl").read_text().splitlines()]
    assert {record["step"] for record in records} == {1, 2}
    assert json.loads((tmp_path / "task_eval.json").read_text())["num_problems"] == 4
    assert not has_cpu_inference_layout(trainer.model)


def test_trainer_keeps_its_4bit_policy_trainable_after_any_eval_mode_forward(qlora_policy, tokenizer, tmp_path):
    # TRL's own evaluation loop, an evaluation of the in-memory model or a user callback may run eval-mode forwards
    # without the context: the trainer's model is never repacked, and the next training step still has gradients.
    from conftest import cpu_grpo_kwargs
    from trl import GRPOConfig

    from trl_entropy import EntropyGRPOTrainer
    from trl_entropy.tasks import build_dataset, countdown_reward

    trainer = EntropyGRPOTrainer(
        model=qlora_policy,
        reward_funcs=countdown_reward,
        args=GRPOConfig(**cpu_grpo_kwargs(tmp_path)),
        train_dataset=build_dataset(split="train", n=8, seed=0),
        processing_class=tokenizer,
    )
    input_ids = tokenizer(["3 12 11=135:"], return_tensors="pt", add_special_tokens=False)["input_ids"]
    trainer.model.eval()
    with torch.no_grad():
        trainer.model(input_ids=input_ids)
    assert not has_cpu_inference_layout(trainer.model)
    torch.nn.init.normal_(trainer.model.base_model.model.model.layers[0].self_attn.q_proj.lora_B["default"].weight)
    assert first_layer_lora_grad(trainer.model, input_ids) > 0
