#include "telemetry/metrics.h"

#include <algorithm>
#include <cmath>

#include "core/check.h"

namespace mlxm::telemetry {
namespace {

bool valid_metric_name(const std::string& s) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

bool valid_label_name(const std::string& s) {
  if (s.empty() || s.rfind("__", 0) == 0) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
              (i > 0 && c >= '0' && c <= '9');
    if (!ok) return false;
  }
  return true;
}

}  // namespace

const char* metric_type_name(MetricType t) {
  switch (t) {
    case MetricType::kCounter: return "counter";
    case MetricType::kGauge: return "gauge";
    case MetricType::kHistogram: return "histogram";
  }
  return "untyped";
}

void Counter::inc(double v) {
  MLXM_CHECK(v >= 0);
  value_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Histogram(std::vector<double> bounds) : bounds_(std::move(bounds)) {
  for (size_t i = 0; i < bounds_.size(); ++i) {
    MLXM_CHECK(std::isfinite(bounds_[i]));
    if (i > 0) MLXM_CHECK(bounds_[i] > bounds_[i - 1]);
  }
  counts_ = std::make_unique<std::atomic<uint64_t>[]>(bounds_.size() + 1);
  for (size_t i = 0; i <= bounds_.size(); ++i) counts_[i].store(0);
}

void Histogram::observe(double v) {
  if (std::isnan(v)) return;
  // Buckets are "less than or equal": the first bound >= v.
  size_t i = std::lower_bound(bounds_.begin(), bounds_.end(), v) - bounds_.begin();
  counts_[i].fetch_add(1, std::memory_order_relaxed);
  sum_.fetch_add(v, std::memory_order_relaxed);
}

Histogram::Snapshot Histogram::snapshot() const {
  Snapshot s;
  s.bounds = bounds_;
  s.cumulative.resize(bounds_.size() + 1);
  uint64_t acc = 0;
  for (size_t i = 0; i <= bounds_.size(); ++i) {
    acc += counts_[i].load(std::memory_order_relaxed);
    s.cumulative[i] = acc;
  }
  s.count = acc;
  s.sum = sum_.load(std::memory_order_relaxed);
  return s;
}

Family::Family(std::string name, std::string help, MetricType type,
               std::vector<std::string> label_names, std::vector<double> buckets)
    : name_(std::move(name)),
      help_(std::move(help)),
      type_(type),
      label_names_(std::move(label_names)),
      buckets_(std::move(buckets)) {}

Family::Child& Family::child_locked(const LabelValues& values) {
  MLXM_CHECK_MSG(values.size() == label_names_.size(), ("wrong number of label values for " + name_).c_str());
  auto it = children_.find(values);
  if (it != children_.end()) return it->second;
  Child c;
  switch (type_) {
    case MetricType::kCounter: c.counter = std::make_unique<Counter>(); break;
    case MetricType::kGauge: c.gauge = std::make_unique<Gauge>(); break;
    case MetricType::kHistogram: c.histogram = std::make_unique<Histogram>(buckets_); break;
  }
  return children_.emplace(values, std::move(c)).first->second;
}

Counter& Family::counter(const LabelValues& values) {
  MLXM_CHECK(type_ == MetricType::kCounter);
  std::lock_guard lock(mu_);
  return *child_locked(values).counter;
}

Gauge& Family::gauge(const LabelValues& values) {
  MLXM_CHECK(type_ == MetricType::kGauge);
  std::lock_guard lock(mu_);
  return *child_locked(values).gauge;
}

Histogram& Family::histogram(const LabelValues& values) {
  MLXM_CHECK(type_ == MetricType::kHistogram);
  std::lock_guard lock(mu_);
  return *child_locked(values).histogram;
}

void Family::remove(const LabelValues& values) {
  std::lock_guard lock(mu_);
  children_.erase(values);
}

void Family::clear() {
  std::lock_guard lock(mu_);
  children_.clear();
}

void Family::for_each(const std::function<void(const ChildView&)>& fn) const {
  std::lock_guard lock(mu_);
  for (const auto& [values, c] : children_) {
    fn(ChildView{&values, c.counter.get(), c.gauge.get(), c.histogram.get()});
  }
}

Family& MetricRegistry::add(const std::string& name, const std::string& help, MetricType type,
                            std::vector<std::string> label_names, std::vector<double> buckets) {
  MLXM_CHECK_MSG(valid_metric_name(name), ("bad metric name: " + name).c_str());
  for (const auto& l : label_names) {
    MLXM_CHECK_MSG(valid_label_name(l), ("bad label name: " + l).c_str());
    MLXM_CHECK_MSG(!(type == MetricType::kHistogram && l == "le"), "histogram label 'le'");
  }
  std::lock_guard lock(mu_);
  auto it = by_name_.find(name);
  if (it != by_name_.end()) {
    Family& f = *it->second;
    MLXM_CHECK_MSG(f.type() == type && f.label_names() == label_names,
                   ("metric registered twice with different shapes: " + name).c_str());
    return f;
  }
  families_.push_back(std::make_unique<Family>(name, help, type, std::move(label_names),
                                               std::move(buckets)));
  by_name_[name] = families_.back().get();
  return *families_.back();
}

Family& MetricRegistry::counter(const std::string& name, const std::string& help,
                                std::vector<std::string> label_names) {
  return add(name, help, MetricType::kCounter, std::move(label_names), {});
}

Family& MetricRegistry::gauge(const std::string& name, const std::string& help,
                              std::vector<std::string> label_names) {
  return add(name, help, MetricType::kGauge, std::move(label_names), {});
}

Family& MetricRegistry::histogram(const std::string& name, const std::string& help,
                                  std::vector<std::string> label_names,
                                  std::vector<double> buckets) {
  Histogram check(buckets);  // validates the bounds before registering
  return add(name, help, MetricType::kHistogram, std::move(label_names), std::move(buckets));
}

void MetricRegistry::add_collect_hook(std::function<void()> hook) {
  std::lock_guard lock(mu_);
  hooks_.push_back(std::move(hook));
}

void MetricRegistry::collect(const std::function<void(const Family&)>& fn) {
  std::lock_guard collect_lock(collect_mu_);
  std::vector<std::function<void()>> hooks;
  {
    std::lock_guard lock(mu_);
    hooks = hooks_;
  }
  for (auto& h : hooks) h();
  for (const Family* f : families()) fn(*f);
}

std::vector<const Family*> MetricRegistry::families() const {
  std::lock_guard lock(mu_);
  std::vector<const Family*> out;
  for (const auto& f : families_) out.push_back(f.get());
  return out;
}

std::vector<double> exponential_buckets(double start, double factor, int count) {
  MLXM_CHECK(start > 0 && factor > 1 && count >= 1);
  std::vector<double> out;
  double v = start;
  for (int i = 0; i < count; ++i, v *= factor) out.push_back(v);
  return out;
}

}  // namespace mlxm::telemetry
