#include "store/audit_writer.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <random>

#include "core/clock.h"
#include "store/store_test_util.h"

namespace mlxm::store {
namespace {

using testing::make_row;
using testing::TempDir;

AuditWriterOptions quick_options() {
  AuditWriterOptions o;
  o.flush_interval = std::chrono::milliseconds(5);
  o.retention_days = 0;
  o.max_bytes = 0;
  return o;
}

std::unique_ptr<Database> open_db(const TempDir& dir) {
  auto db = Database::open(dir.db());
  EXPECT_TRUE(db.ok()) << db.status().message();
  return db.ok() ? std::move(db).value() : nullptr;
}

TEST(AuditWriter, WritesInBatchesAndReportsIds) {
  TempDir dir;
  std::mutex mu;
  std::vector<int64_t> ids;
  size_t n_batches = 0;
  AuditWriterOptions o = quick_options();
  o.max_batch = 16;
  AuditWriter w(open_db(dir), o, [&](const std::vector<AuditRow>& rows) {
    std::lock_guard lock(mu);
    ++n_batches;
    EXPECT_LE(rows.size(), 16u);
    for (const auto& r : rows) ids.push_back(r.id);
  });
  for (int i = 0; i < 100; ++i) ASSERT_TRUE(w.enqueue(make_row(i, i)));
  w.flush();
  EXPECT_EQ(w.n_written(), 100u);
  EXPECT_EQ(w.n_dropped(), 0u);
  {
    std::lock_guard lock(mu);
    ASSERT_EQ(ids.size(), 100u);
    for (size_t i = 1; i < ids.size(); ++i) EXPECT_EQ(ids[i], ids[i - 1] + 1);
    EXPECT_GE(n_batches, 7u);
  }
  auto reader = open_db(dir);
  EXPECT_EQ(*AuditLog(*reader).count(), 100);
}

TEST(AuditWriter, AFullQueueDropsAndCountsInsteadOfBlocking) {
  TempDir dir;
  AuditWriterOptions o = quick_options();
  o.max_queue = 8;
  AuditWriter w(open_db(dir), o);
  int accepted = 0;
  for (int i = 0; i < 2000; ++i) accepted += w.enqueue(make_row(i, i));
  w.flush();
  EXPECT_LT(accepted, 2000);
  EXPECT_EQ(w.n_written(), static_cast<uint64_t>(accepted));
  EXPECT_EQ(w.n_written() + w.n_dropped(), 2000u);
  auto reader = open_db(dir);
  EXPECT_EQ(*AuditLog(*reader).count(), accepted);
}

TEST(AuditWriter, AFailingDatabaseDropsTheBatchAndKeepsGoing) {
  TempDir dir;
  AuditWriter w(open_db(dir), quick_options());
  ASSERT_TRUE(w.enqueue(make_row(0, 0)));
  w.flush();
  ASSERT_EQ(w.n_written(), 1u);
  // Break the table under the writer (as a full or broken disk would fail the insert).
  ASSERT_EQ(std::system(("sqlite3 '" + dir.db().string() + "' 'ALTER TABLE audit_log RENAME TO gone'").c_str()), 0);
  for (int i = 1; i <= 5; ++i) EXPECT_TRUE(w.enqueue(make_row(i, i)));
  w.flush();
  EXPECT_EQ(w.n_written(), 1u);
  EXPECT_EQ(w.n_dropped(), 5u);
}

TEST(AuditWriter, StopWritesWhatIsQueued) {
  TempDir dir;
  {
    AuditWriterOptions o = quick_options();
    o.flush_interval = std::chrono::seconds(10);  // only stop() makes it write
    AuditWriter w(open_db(dir), o);
    for (int i = 0; i < 10; ++i) w.enqueue(make_row(i, i));
    w.stop();
    EXPECT_EQ(w.n_written(), 10u);
    EXPECT_FALSE(w.enqueue(make_row(11, 11)));
    w.flush();  // returns at once after stop
  }
  auto reader = open_db(dir);
  EXPECT_EQ(*AuditLog(*reader).count(), 10);
}

TEST(AuditWriter, PeriodicRetentionDeletesOldRows) {
  TempDir dir;
  AuditWriterOptions o = quick_options();
  o.retention_days = 1;
  o.retention_interval = std::chrono::milliseconds(50);
  AuditWriter w(open_db(dir), o);
  const int64_t old_ts = 1000;  // 1970
  for (int i = 0; i < 5; ++i) w.enqueue(make_row(i, old_ts + i));
  w.enqueue(make_row(99, unix_ms()));
  w.flush();
  // No explicit call: the writer's own timer must run it.
  for (int i = 0; i < 200 && w.n_retention_deleted() < 5; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_EQ(w.n_retention_deleted(), 5u);
  auto reader = open_db(dir);
  EXPECT_EQ(*AuditLog(*reader).count(), 1);
}

TEST(AuditWriter, RetentionChangesLive) {
  TempDir dir;
  AuditWriter w(open_db(dir), quick_options());  // retention off
  EXPECT_EQ(w.retention_days(), 0);
  for (int i = 0; i < 3; ++i) w.enqueue(make_row(i, 1000 + i));
  w.enqueue(make_row(99, unix_ms()));
  w.flush();
  w.run_retention_now();
  EXPECT_EQ(w.n_retention_deleted(), 0u);
  w.set_retention(1, 0);
  EXPECT_EQ(w.retention_days(), 1);
  w.run_retention_now();
  EXPECT_EQ(w.n_retention_deleted(), 3u);
  w.set_retention(-4, -1);  // clamped: off
  EXPECT_EQ(w.retention_days(), 0);
  EXPECT_EQ(w.max_bytes(), 0);
}

// kill -9 in the middle of writing: the database reopens clean, holds a contiguous prefix of
// what was enqueued (transactions are atomic and in order) and loses at most the batch that
// was in flight after the last acknowledged flush.
TEST(AuditWriterCrash, KillNineDuringWritesNeverCorruptsAndLosesAtMostTheLastBatch) {
  constexpr int kBatch = 64;
  std::mt19937 rng(12345);
  for (int trial = 0; trial < 4; ++trial) {
    TempDir dir;
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = ::fork();
    ASSERT_GE(pid, 0);
    if (pid == 0) {
      ::close(fds[0]);
      auto db = Database::open(dir.db());
      if (!db.ok()) ::_exit(2);
      AuditWriterOptions o = quick_options();
      o.max_batch = kBatch;
      AuditWriter w(std::move(db).value(), o);
      for (int64_t i = 0;;) {
        for (int k = 0; k < kBatch; ++k, ++i) {
          AuditRow r = make_row(static_cast<int>(i), i);
          r.prompt_content = std::string(300, 'c');  // bigger pages, more I/O per batch
          w.enqueue(std::move(r));
        }
        w.flush();
        if (::write(fds[1], &i, sizeof i) != sizeof i) ::_exit(3);
      }
    }
    ::close(fds[1]);
    int64_t acked = 0, v = 0;
    const int64_t min_progress = kBatch * (3 + trial * 5);
    while (acked < min_progress && ::read(fds[0], &v, sizeof v) == sizeof v) acked = v;
    ASSERT_GE(acked, min_progress) << "the writer child died early";
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    ::kill(pid, SIGKILL);
    while (::read(fds[0], &v, sizeof v) == sizeof v) acked = v;
    ::close(fds[0]);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);

    auto db = Database::open(dir.db());
    ASSERT_TRUE(db.ok()) << db.status().message();
    ASSERT_TRUE((*db)->check_integrity().ok());
    AuditLog log(**db);
    const int64_t n = *log.count();
    EXPECT_GE(n, acked) << "acknowledged rows were lost";
    EXPECT_LE(n, acked + kBatch) << "more than one batch past the last acknowledgement";
    int64_t expect = 0;
    ASSERT_TRUE(log.for_each({}, true, [&](const AuditRow& r) {
      EXPECT_EQ(r.ts_ms, expect);
      EXPECT_EQ(r.request_id, "req_" + std::to_string(expect));
      EXPECT_EQ(r.prompt_content->size(), 300u);
      ++expect;
      return true;
    }).ok());
    EXPECT_EQ(expect, n);
    // And the store keeps working after the crash.
    std::vector<AuditRow> more = {make_row(1, 1)};
    EXPECT_TRUE(log.insert(&more).ok());
  }
}

}  // namespace
}  // namespace mlxm::store
