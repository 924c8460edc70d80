// Metrics math on synthetic timelines (values checked by hand / against numpy's definitions).
#include "bench/metrics.h"

#include <gtest/gtest.h>

namespace mlxm::bench {
namespace {

TEST(Percentile, MatchesNumpyLinearInterpolation) {
  // numpy.percentile([1,2,3,4], 50) == 2.5, (.., 99) == 3.97, (.., 0) == 1, (.., 100) == 4
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 50), 2.5);
  EXPECT_NEAR(percentile({4, 1, 3, 2}, 99), 3.97, 1e-12);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0), 1);
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 100), 4);
  // numpy.percentile(range(1, 11), 95) == 9.55
  EXPECT_NEAR(percentile({1, 2, 3, 4, 5, 6, 7, 8, 9, 10}, 95), 9.55, 1e-12);
  EXPECT_DOUBLE_EQ(percentile({7}, 99), 7);
  EXPECT_DOUBLE_EQ(percentile({}, 50), 0);
}

TEST(ComputeStats, PopulationStdAndEmpty) {
  Stats s = compute_stats({2, 4, 4, 4, 5, 5, 7, 9});  // mean 5, population std 2
  EXPECT_TRUE(s.valid);
  EXPECT_DOUBLE_EQ(s.mean, 5);
  EXPECT_DOUBLE_EQ(s.std, 2);
  EXPECT_DOUBLE_EQ(s.median, 4.5);
  EXPECT_FALSE(compute_stats({}).valid);
}

RequestRecord streamed(double start, double ttft, std::vector<double> gaps, int64_t in,
                       int64_t out) {
  RequestRecord r;
  r.success = true;
  r.t_start_ms = start;
  r.ttft_ms = ttft;
  r.itl_ms = gaps;
  double t = start + ttft;
  r.chunk_at_ms.push_back(t);
  for (double g : gaps) r.chunk_at_ms.push_back(t += g);
  r.e2e_ms = t - start;
  r.prompt_tokens = in;
  r.completion_tokens = out;
  return r;
}

TEST(Aggregate, SyntheticStreamingTimeline) {
  // Two overlapping requests, then one after both ended, and one failure.
  std::vector<RequestRecord> rs;
  rs.push_back(streamed(0, 100, {10, 10, 10}, 20, 4));       // e2e 130, tpot 10
  rs.push_back(streamed(50, 200, {20, 20, 20, 20}, 30, 5));  // e2e 280, tpot 20
  rs.push_back(streamed(400, 50, {5}, 10, 2));               // e2e 55, tpot 5
  RequestRecord bad;
  bad.error = "HTTP 500: boom";
  bad.t_start_ms = 390;
  bad.e2e_ms = 1;
  rs.push_back(bad);
  LevelMetrics m = aggregate(rs, /*duration_s=*/0.5, /*concurrency=*/2, /*stream=*/true);
  EXPECT_EQ(m.completed, 3);
  EXPECT_EQ(m.failed, 1);
  EXPECT_EQ(m.errors.at("HTTP 500: boom"), 1);
  EXPECT_EQ(m.total_input_tokens, 60);
  EXPECT_EQ(m.total_output_tokens, 11);
  EXPECT_DOUBLE_EQ(m.request_throughput, 6.0);
  EXPECT_DOUBLE_EQ(m.output_throughput, 22.0);
  EXPECT_DOUBLE_EQ(m.total_token_throughput, 142.0);
  EXPECT_DOUBLE_EQ(m.ttft.median, 100);
  EXPECT_DOUBLE_EQ(m.ttft.mean, 350.0 / 3);
  EXPECT_DOUBLE_EQ(m.tpot.median, 10);
  EXPECT_DOUBLE_EQ(m.tpot.mean, 35.0 / 3);
  EXPECT_DOUBLE_EQ(m.e2el.median, 130);
  EXPECT_EQ(m.itl.valid, true);
  EXPECT_DOUBLE_EQ(m.itl.mean, (30 + 80 + 5) / 8.0);
  EXPECT_DOUBLE_EQ(m.decode_tps_per_request.median, 100);  // 1000 / 10 ms
  // Requests 1 and 2 overlap during [50, 130]; the failure (390-391) overlaps nothing.
  EXPECT_EQ(m.max_concurrent_requests, 2);
  // Chunk arrivals all fall in second 0: 4 + 5 + 2 chunks.
  EXPECT_DOUBLE_EQ(m.max_output_tokens_per_s, 11);
}

TEST(Aggregate, BackToBackRequestsDoNotOverlap) {
  std::vector<RequestRecord> rs = {streamed(0, 10, {10}, 1, 2), streamed(20, 10, {10}, 1, 2)};
  EXPECT_EQ(aggregate(rs, 1, 1, true).max_concurrent_requests, 1);
}

TEST(Aggregate, NonStreamedHasNoTtftTpotItl) {
  RequestRecord r;
  r.success = true;
  r.e2e_ms = 250;
  r.prompt_tokens = 10;
  r.completion_tokens = 64;
  LevelMetrics m = aggregate({r, r}, 0.5, 1, false);
  EXPECT_FALSE(m.ttft.valid);
  EXPECT_FALSE(m.tpot.valid);
  EXPECT_FALSE(m.itl.valid);
  EXPECT_TRUE(m.e2el.valid);
  EXPECT_DOUBLE_EQ(m.output_throughput, 256);
  std::string block = format_result_block(m);
  EXPECT_NE(block.find("Mean TTFT (ms):                          n/a"), std::string::npos) << block;
  EXPECT_EQ(block.find("Peak output token throughput"), std::string::npos);
}

TEST(Aggregate, SingleTokenRequestsHaveNoTpot) {
  RequestRecord r = streamed(0, 40, {}, 5, 1);
  LevelMetrics m = aggregate({r}, 1, 1, true);
  EXPECT_TRUE(m.ttft.valid);
  EXPECT_FALSE(m.tpot.valid);
}

TEST(FormatResultBlock, UsesVllmLabelsAndWidths) {
  LevelMetrics m = aggregate({streamed(0, 100, {10, 10, 10}, 20, 4)}, 1.0, 1, true);
  std::string b = format_result_block(m);
  EXPECT_EQ(b.rfind("============ Serving Benchmark Result ============\n", 0), 0u) << b;
  for (const char* label :
       {"Successful requests:                     1", "Failed requests:                         0",
        "Maximum request concurrency:             1",
        "Benchmark duration (s):                  1.00",
        "Total input tokens:                      20", "Total generated tokens:                  4",
        "Request throughput (req/s):              1.00",
        "Output token throughput (tok/s):         4.00",
        "Total Token throughput (tok/s):          24.00",
        "---------------Time to First Token----------------",
        "-----Time per Output Token (excl. 1st token)------",
        "---------------Inter-token Latency----------------",
        "----------------End-to-end Latency----------------",
        "Median TTFT (ms):                        100.00",
        "P99 TPOT (ms):                           10.00",
        "Mean E2EL (ms):                          130.00"}) {
    EXPECT_NE(b.find(label), std::string::npos) << label << "\n" << b;
  }
}

TEST(FormatResultBlock, ListsFailureReasons) {
  RequestRecord bad;
  bad.error = "connection: Couldn't connect to server";
  LevelMetrics m = aggregate({bad, bad}, 1, 1, false);
  std::string b = format_result_block(m);
  EXPECT_NE(b.find("2 x connection: Couldn't connect to server"), std::string::npos) << b;
}

}  // namespace
}  // namespace mlxm::bench
