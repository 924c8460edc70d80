// mlx-benchmark make-model: a random-weight model directory at a real shape.
#include <CLI/CLI.hpp>
#include <cstdio>

#include "core/clock.h"
#include "engine/loader/make_model.h"

namespace mlxm::cli {

namespace {
struct MakeModelArgs {
  std::string shape = "tiny";
  std::string quant = "q4";
  int group = 64;
  std::string tokenizer;
  std::string out;
  uint64_t seed = 0;
};
}  // namespace

// Shared with cmd_bench_engine.cpp: the ModelSpec of --shape/--quant/--group.
Result<engine::ModelSpec> bench_model_spec(const std::string& shape, const std::string& quant,
                                           int group) {
  auto spec = engine::model_spec_for_shape(shape);
  if (!spec.ok()) return spec.status();
  if (quant == "bf16") {
    spec->bits = 0;
  } else if (quant == "q4") {
    spec->bits = 4;
  } else if (quant == "q8") {
    spec->bits = 8;
  } else {
    return invalid_argument("unknown --quant '" + quant + "' (bf16, q4, q8)");
  }
  if (group != 32 && group != 64 && group != 128) {
    return invalid_argument("--group must be 32, 64 or 128");
  }
  spec->group_size = group;
  return spec;
}

void add_bench_make_model_command(CLI::App& app, int* exit_code) {
  auto args = std::make_shared<MakeModelArgs>();
  auto* cmd = app.add_subcommand("make-model",
                                 "Write a random-weight model (HF/MLX layout) at a real shape");
  cmd->add_option("--shape", args->shape,
                  "tiny | llama-3.2-1b | llama-3.2-3b | llama-3.1-8b | qwen3-0.6b | qwen3-8b")
      ->capture_default_str();
  cmd->add_option("--quant", args->quant, "bf16 | q4 | q8 (MLX affine)")->capture_default_str();
  cmd->add_option("--group", args->group, "quantization group size")->capture_default_str();
  cmd->add_option("--tokenizer", args->tokenizer, "directory with tokenizer.json (vocab size)")
      ->required();
  cmd->add_option("--out", args->out, "output directory")->required();
  cmd->add_option("--seed", args->seed, "random seed")->capture_default_str();
  cmd->callback([args, exit_code] {
    auto spec = bench_model_spec(args->shape, args->quant, args->group);
    if (!spec.ok()) {
      std::fprintf(stderr, "make-model: %s\n", spec.status().to_string().c_str());
      *exit_code = 2;
      return;
    }
    Timer t;
    Status st = engine::make_model(*spec, args->tokenizer, args->out, args->seed);
    if (!st.ok()) {
      std::fprintf(stderr, "make-model: %s\n", st.to_string().c_str());
      *exit_code = 1;
      return;
    }
    std::printf("wrote %s (%s %s, seed %llu) in %.1f s\n", args->out.c_str(), args->shape.c_str(),
                args->quant.c_str(), static_cast<unsigned long long>(args->seed), t.ms() / 1000.0);
    *exit_code = 0;
  });
}

}  // namespace mlxm::cli
