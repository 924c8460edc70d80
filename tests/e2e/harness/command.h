// Runs a shell command for the e2e tests (node SDK scripts, curl): its stdout, and its exit
// status as pclose() reports it in *rc (-1 when it could not start).
#pragma once

#include <cstdio>
#include <string>

namespace mlxm::e2e {

inline std::string run_command(const std::string& cmd, int* rc) {
  std::string out;
  *rc = -1;
  FILE* p = popen(cmd.c_str(), "r");
  if (!p) return out;
  char buf[4096];
  size_t n;
  while ((n = fread(buf, 1, sizeof(buf), p)) > 0) out.append(buf, n);
  *rc = pclose(p);
  return out;
}

}  // namespace mlxm::e2e
