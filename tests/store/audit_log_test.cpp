#include "store/audit_log.h"

#include <gtest/gtest.h>

#include "store/store_test_util.h"

namespace mlxm::store {
namespace {

using testing::make_row;
using testing::TempDir;

class AuditLogTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto db = Database::open(dir_.db());
    ASSERT_TRUE(db.ok()) << db.status().message();
    db_ = std::move(db).value();
    log_ = std::make_unique<AuditLog>(*db_);
  }
  void insert(std::vector<AuditRow> rows) { ASSERT_TRUE(log_->insert(&rows).ok()); }

  TempDir dir_;
  std::unique_ptr<Database> db_;
  std::unique_ptr<AuditLog> log_;
};

TEST_F(AuditLogTest, RowsRoundTripExactly) {
  std::vector<AuditRow> rows = {make_row(1, 1000), make_row(2, 2000, "other", "error")};
  rows[1].api_key_id = "key_abc";
  rows[1].prompt_content = "hello ✓";
  rows[1].response_content = "";
  ASSERT_TRUE(log_->insert(&rows).ok());
  EXPECT_GT(rows[0].id, 0);
  EXPECT_GT(rows[1].id, rows[0].id);
  auto page = log_->query({}, 10, 0);
  ASSERT_TRUE(page.ok());
  ASSERT_EQ(page->rows.size(), 2u);
  EXPECT_EQ(page->rows[0], rows[1]);  // newest first
  EXPECT_EQ(page->rows[1], rows[0]);
}

TEST_F(AuditLogTest, FiltersAndPaginationNewestFirst) {
  std::vector<AuditRow> rows;
  for (int i = 0; i < 30; ++i) {
    rows.push_back(make_row(i, 1000 + i * 10, i % 3 == 0 ? "a" : "b", i % 5 == 0 ? "error" : "success"));
  }
  insert(rows);
  AuditFilter f;
  f.model = "a";
  auto p = log_->query(f, 4, 0);
  ASSERT_TRUE(p.ok());
  EXPECT_EQ(p->total, 10);
  ASSERT_EQ(p->rows.size(), 4u);
  EXPECT_EQ(p->rows[0].request_id, "req_27");
  EXPECT_EQ(p->rows[3].request_id, "req_18");
  auto p2 = log_->query(f, 4, 8);
  ASSERT_EQ(p2->rows.size(), 2u);
  EXPECT_EQ(p2->rows[1].request_id, "req_0");

  AuditFilter t;
  t.status = "error";
  t.since_ms = 1050;  // i >= 5
  t.until_ms = 1250;  // i < 25
  auto p3 = log_->query(t, 100, 0);
  ASSERT_EQ(p3->total, 4);  // 5, 10, 15, 20
  EXPECT_EQ(p3->rows.front().request_id, "req_20");
  t.backend = "cloud";
  EXPECT_EQ(log_->query(t, 100, 0)->total, 0);
  EXPECT_FALSE(log_->query({}, 0, 0).ok());
}

TEST_F(AuditLogTest, ForEachPagesThroughEverythingInOrder) {
  std::vector<AuditRow> rows;
  for (int i = 0; i < 23; ++i) rows.push_back(make_row(i, 5000 + (i / 2)));  // equal timestamps
  insert(rows);
  std::vector<int64_t> ids;
  ASSERT_TRUE(log_->for_each({}, true, [&](const AuditRow& r) { return ids.push_back(r.id), true; }, 5).ok());
  ASSERT_EQ(ids.size(), 23u);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_LT(ids[i - 1], ids[i]);
  ids.clear();
  ASSERT_TRUE(log_->for_each({}, false, [&](const AuditRow& r) { return ids.push_back(r.id), true; }, 4).ok());
  ASSERT_EQ(ids.size(), 23u);
  for (size_t i = 1; i < ids.size(); ++i) EXPECT_GT(ids[i - 1], ids[i]);
  int n = 0;
  ASSERT_TRUE(log_->for_each({}, true, [&](const AuditRow&) { return ++n < 7; }, 5).ok());
  EXPECT_EQ(n, 7);
}

TEST_F(AuditLogTest, StatsAggregate) {
  insert({make_row(0, 100, "a"), make_row(1, 200, "a", "error"), make_row(2, 300, "b"),
          make_row(3, 400, "a")});
  auto s = log_->stats({});
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->total, 4);
  EXPECT_EQ(s->prompt_tokens, 7 + 8 + 9 + 10);
  EXPECT_EQ(s->completion_tokens, 12);
  ASSERT_EQ(s->by_status.size(), 2u);
  EXPECT_EQ(s->by_status[0], std::make_pair(std::string("error"), int64_t{1}));
  EXPECT_EQ(s->by_status[1], std::make_pair(std::string("success"), int64_t{3}));
  ASSERT_EQ(s->by_model.size(), 2u);
  EXPECT_EQ(s->by_model[0].model, "a");
  EXPECT_EQ(s->by_model[0].requests, 3);
  EXPECT_EQ(s->by_model[0].errors, 1);
  EXPECT_DOUBLE_EQ(s->by_model[0].avg_duration_ms, (10.5 + 11.5 + 13.5) / 3);
  EXPECT_EQ(*s->first_ts_ms, 100);
  EXPECT_EQ(*s->last_ts_ms, 400);
  AuditFilter none;
  none.model = "zzz";
  auto e = log_->stats(none);
  EXPECT_EQ(e->total, 0);
  EXPECT_FALSE(e->avg_duration_ms.has_value());
}

TEST_F(AuditLogTest, ErrorMessagesAreTruncatedAtACharacterBoundary) {
  AuditRow r = make_row(0, 1, "a", "error");
  r.error_message = std::string(kMaxErrorMessageBytes - 1, 'x') + "é and more";
  insert({r});
  auto p = log_->query({}, 1, 0);
  EXPECT_EQ(p->rows[0].error_message->size(), kMaxErrorMessageBytes - 1);
  EXPECT_EQ(truncate_utf8("aé", 2), "a");
  EXPECT_EQ(truncate_utf8("aé", 3), "aé");
}

TEST_F(AuditLogTest, RetentionByAgeAndBySize) {
  std::vector<AuditRow> rows;
  for (int i = 0; i < 100; ++i) rows.push_back(make_row(i, 1000 + i));
  insert(rows);
  EXPECT_EQ(*log_->delete_older_than(1010), 10);
  EXPECT_EQ(*log_->count(), 90);

  // Grow the database with big rows, then cap it well below its size.
  std::vector<AuditRow> big;
  for (int i = 0; i < 400; ++i) {
    AuditRow r = make_row(1000 + i, 10000 + i);
    r.prompt_content = std::string(2000, 'p');
    big.push_back(r);
  }
  insert(big);
  const int64_t before = *db_->used_bytes();
  const int64_t cap = before / 3;
  auto deleted = log_->enforce_max_bytes(cap);
  ASSERT_TRUE(deleted.ok()) << deleted.status().message();
  EXPECT_GT(*deleted, 0);
  EXPECT_LE(*db_->used_bytes(), cap);
  // The oldest went first: what is left is the newest rows, contiguous.
  auto left = log_->query({}, 1000, 0);
  ASSERT_FALSE(left->rows.empty());
  EXPECT_EQ(left->rows.front().request_id, "req_1399");
  EXPECT_EQ(left->total, static_cast<int64_t>(490 - *deleted));
  EXPECT_TRUE(db_->check_integrity().ok());
}

}  // namespace
}  // namespace mlxm::store
