#include "api/admin_logs/audit_feed.h"

#include <gtest/gtest.h>

#include <mutex>

#include "api/admin_logs/audit_format.h"
#include "api/admin_logs/audit_service.h"

namespace mlxm::api {
namespace {

// A connection whose reader never reads: everything sent stays queued.
class FakeConn : public http::WebSocketConnection {
 public:
  bool send(std::string text) override {
    std::lock_guard lock(mu_);
    if (closed_) return false;
    sent_.push_back(std::move(text));
    return true;
  }
  void close() override {
    std::lock_guard lock(mu_);
    closed_ = true;
  }
  bool is_closed() const override {
    std::lock_guard lock(mu_);
    return closed_;
  }
  size_t n_queued() const override {
    std::lock_guard lock(mu_);
    return sent_.size() - n_read_;
  }
  void on_message(std::function<void(std::string)>) override {}
  void on_close(std::function<void()>) override {}
  void read_all() {
    std::lock_guard lock(mu_);
    n_read_ = sent_.size();
  }
  std::vector<std::string> sent() const {
    std::lock_guard lock(mu_);
    return sent_;
  }

 private:
  mutable std::mutex mu_;
  std::vector<std::string> sent_;
  size_t n_read_ = 0;
  bool closed_ = false;
};

store::AuditRow row(int64_t id) {
  store::AuditRow r;
  r.id = id;
  r.request_id = "r" + std::to_string(id);
  r.status = "success";
  return r;
}

TEST(AuditFeed, BacklogThenHeldLiveRowsWithoutDuplicates) {
  AuditFeed feed({.backlog = 10, .max_queued = 100, .ping_interval = std::chrono::hours(1)});
  auto conn = std::make_shared<FakeConn>();
  auto sub = feed.subscribe(conn);
  feed.publish({row(3), row(4)});  // arrives before the backlog went out: held
  EXPECT_TRUE(conn->sent().empty());
  feed.deliver_backlog(sub, {row(3), row(2), row(1)});  // newest first, as queried
  feed.publish({row(5)});
  std::vector<std::pair<std::string, bool>> got;
  for (const auto& m : conn->sent()) {
    auto j = nlohmann::json::parse(m);
    got.emplace_back(j["data"]["request_id"], j["backlog"]);
  }
  std::vector<std::pair<std::string, bool>> want = {
      {"r1", true}, {"r2", true}, {"r3", true}, {"r4", false}, {"r5", false}};
  EXPECT_EQ(got, want);
}

TEST(AuditFeed, ASlowClientIsDroppedAndOthersKeepGettingRows) {
  AuditFeed feed({.backlog = 0, .max_queued = 8, .ping_interval = std::chrono::hours(1)});
  auto slow = std::make_shared<FakeConn>();
  auto fast = std::make_shared<FakeConn>();
  feed.deliver_backlog(feed.subscribe(slow), {});
  feed.deliver_backlog(feed.subscribe(fast), {});
  for (int i = 1; i <= 50; ++i) {
    feed.publish({row(i)});
    fast->read_all();
  }
  EXPECT_TRUE(slow->is_closed());
  EXPECT_EQ(slow->sent().size(), 8u);  // never more than max_queued buffered
  EXPECT_FALSE(fast->is_closed());
  EXPECT_EQ(fast->sent().size(), 50u);
  EXPECT_EQ(feed.n_dropped_slow(), 1u);
  EXPECT_EQ(feed.n_subscribers(), 1u);
}

TEST(AuditFeed, PingsAndClose) {
  AuditFeed feed({.backlog = 0, .max_queued = 100, .ping_interval = std::chrono::milliseconds(10)});
  auto conn = std::make_shared<FakeConn>();
  feed.deliver_backlog(feed.subscribe(conn), {});
  for (int i = 0; i < 200 && conn->sent().empty(); ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  ASSERT_FALSE(conn->sent().empty());
  EXPECT_EQ(conn->sent()[0], R"({"type":"ping"})");
  feed.close();
  EXPECT_TRUE(conn->is_closed());
}

TEST(AuditFormat, CsvQuotingFollowsRfc4180) {
  EXPECT_EQ(csv_field("plain"), "plain");
  EXPECT_EQ(csv_field("a,b"), "\"a,b\"");
  EXPECT_EQ(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
  EXPECT_EQ(csv_field("line\r\nnext"), "\"line\r\nnext\"");
  store::AuditRow r = row(7);
  r.duration_ms = 0.1;
  EXPECT_EQ(audit_csv_line(r).substr(0, 6), "7,r7,0");
  EXPECT_EQ(audit_csv_header().substr(0, 25), "id,request_id,timestamp_m");
}

TEST(AuditService, RowsFromRecordsKeepContentOnlyWhenEnabled) {
  telemetry::RequestRecord rec;
  rec.request_id = "x";
  rec.outcome = telemetry::RequestOutcome::kTimeout;
  rec.http_status = 408;
  rec.prompt_content = "secret prompt";
  rec.response_content = "secret answer";
  rec.error_message = std::string(5000, 'e');
  rec.queue_ms = -1;
  rec.ttft_ms = 12;
  store::AuditRow off = audit_row_from_record(rec, false);
  EXPECT_FALSE(off.prompt_content.has_value());
  EXPECT_FALSE(off.response_content.has_value());
  EXPECT_EQ(off.status, "timeout");
  EXPECT_FALSE(off.queue_ms.has_value());
  EXPECT_EQ(*off.ttft_ms, 12);
  EXPECT_EQ(off.error_message->size(), store::kMaxErrorMessageBytes);
  store::AuditRow on = audit_row_from_record(rec, true);
  EXPECT_EQ(*on.prompt_content, "secret prompt");
  EXPECT_EQ(*on.response_content, "secret answer");
}

}  // namespace
}  // namespace mlxm::api
