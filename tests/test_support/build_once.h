#pragma once
// Shared test artefacts under build/test-models (generated models, fake HF caches) are built by
// whichever test process needs them first, and ctest runs many such processes at once. A
// directory is therefore built in a private staging directory and renamed into place (rename(2)
// of a directory is atomic), so a concurrent reader sees either nothing or the complete
// directory, never a half-written config.json or safetensors file.
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>

namespace mlxm::test_support {

// Builds `out` with `build(staging_dir)` unless it exists. `build` returns an empty string on
// success and an error message otherwise. Returns the error ("" when `out` is ready).
inline std::string build_dir_once(const std::string& out,
                                  const std::function<std::string(const std::string&)>& build) {
  namespace fs = std::filesystem;
  std::error_code ec;
  if (fs::exists(out, ec)) return "";
  static std::atomic<int> counter{0};
  const std::string staging = out + ".staging-" + std::to_string(::getpid()) + "-" +
                              std::to_string(counter.fetch_add(1));
  fs::remove_all(staging, ec);
  fs::create_directories(fs::path(staging).parent_path(), ec);
  std::string err = build(staging);
  if (err.empty()) {
    fs::rename(staging, out, ec);
    // Another process may have won the race: its directory is complete, ours is dropped.
    if (ec && !fs::exists(out)) err = "cannot move " + staging + " to " + out + ": " + ec.message();
  }
  fs::remove_all(staging, ec);
  return err;
}

// The common builder: `mlx-benchmark make-model` with the given arguments, writing to the
// staging directory.
inline std::string make_model_command(const std::string& binary_dir, const std::string& args,
                                      const std::string& out) {
  const std::string cmd = binary_dir + "/bin/mlx-benchmark make-model " + args + " --out " + out +
                          " > /dev/null";
  return std::system(cmd.c_str()) == 0 ? "" : "make-model failed: " + cmd;
}

}  // namespace mlxm::test_support
