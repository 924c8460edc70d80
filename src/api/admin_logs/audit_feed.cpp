#include "api/admin_logs/audit_feed.h"

#include <algorithm>

#include "api/admin_logs/audit_format.h"
#include "core/log.h"

namespace mlxm::api {

struct AuditFeed::Subscriber {
  std::shared_ptr<http::WebSocketConnection> conn;
  bool backlog_done = false;
  std::vector<store::AuditRow> held;  // live rows that arrived before the backlog went out
  bool dropped = false;
};

namespace {

std::string row_message(const store::AuditRow& r, bool backlog) {
  return nlohmann::json{{"type", "audit_log"}, {"backlog", backlog}, {"data", audit_row_json(r)}}
      .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace

AuditFeed::AuditFeed(AuditFeedOptions options) : opt_(options) {
  ping_thread_ = std::thread([this] { run_pings(); });
}

AuditFeed::~AuditFeed() { close(); }

std::shared_ptr<AuditFeed::Subscriber> AuditFeed::subscribe(
    std::shared_ptr<http::WebSocketConnection> conn) {
  auto sub = std::make_shared<Subscriber>();
  sub->conn = std::move(conn);
  std::lock_guard lock(mu_);
  if (closed_) {
    sub->conn->close();
    sub->dropped = true;
    return sub;
  }
  subs_.push_back(sub);
  return sub;
}

bool AuditFeed::send_locked(Subscriber& sub, const std::string& text) {
  if (sub.dropped) return false;
  if (sub.conn->is_closed()) {
    sub.dropped = true;
    return false;
  }
  if (sub.conn->n_queued() >= opt_.max_queued) {
    // A slow reader: drop it rather than buffer without bound or wait for it.
    MLXM_LOG_WARN("audit feed: dropping a slow WebSocket client ({} messages waiting)",
                  sub.conn->n_queued());
    n_dropped_slow_.fetch_add(1);
    sub.dropped = true;
    sub.conn->close();
    return false;
  }
  if (!sub.conn->send(text)) {
    sub.dropped = true;
    return false;
  }
  return true;
}

void AuditFeed::deliver_backlog(const std::shared_ptr<Subscriber>& sub,
                                const std::vector<store::AuditRow>& rows) {
  std::lock_guard lock(mu_);
  int64_t max_id = 0;
  for (auto it = rows.rbegin(); it != rows.rend(); ++it) {
    max_id = std::max(max_id, it->id);
    if (!send_locked(*sub, row_message(*it, true))) break;
  }
  for (const auto& r : sub->held) {
    if (r.id > max_id && !send_locked(*sub, row_message(r, false))) break;
  }
  sub->held.clear();
  sub->backlog_done = true;
}

void AuditFeed::publish(const std::vector<store::AuditRow>& rows) {
  std::lock_guard lock(mu_);
  for (auto& sub : subs_) {
    if (!sub->backlog_done) {
      if (sub->held.size() < opt_.max_queued) {
        sub->held.insert(sub->held.end(), rows.begin(), rows.end());
      }
      continue;
    }
    for (const auto& r : rows) {
      if (!send_locked(*sub, row_message(r, false))) break;
    }
  }
  subs_.erase(std::remove_if(subs_.begin(), subs_.end(), [](const auto& s) { return s->dropped; }),
              subs_.end());
}

void AuditFeed::run_pings() {
  std::unique_lock lock(mu_);
  while (!closed_) {
    cv_.wait_for(lock, opt_.ping_interval, [&] { return closed_; });
    if (closed_) break;
    const std::string ping = R"({"type":"ping"})";
    for (auto& sub : subs_) send_locked(*sub, ping);
    subs_.erase(std::remove_if(subs_.begin(), subs_.end(), [](const auto& s) { return s->dropped; }),
                subs_.end());
  }
}

void AuditFeed::close() {
  std::vector<std::shared_ptr<Subscriber>> subs;
  {
    std::lock_guard lock(mu_);
    if (closed_ && !ping_thread_.joinable()) return;
    closed_ = true;
    subs.swap(subs_);
  }
  cv_.notify_all();
  for (auto& s : subs) s->conn->close();
  if (ping_thread_.joinable() && ping_thread_.get_id() != std::this_thread::get_id()) {
    ping_thread_.join();
  }
}

size_t AuditFeed::n_subscribers() const {
  std::lock_guard lock(mu_);
  return subs_.size();
}

}  // namespace mlxm::api
