// Metric registry: counters, gauges and histograms, each a family with fixed label names whose
// children are keyed by label values (Prometheus data model). The hot path is a cached child
// reference and one or two relaxed atomic operations; looking a child up (with()) takes the
// family's mutex, so callers on hot paths look it up once per request or model and keep the
// reference (children live as long as the registry, unless remove()/clear() drops them).
//
// Thread-safety: everything here is thread-safe. Registration normally happens at startup.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace mlxm::telemetry {

enum class MetricType { kCounter, kGauge, kHistogram };
const char* metric_type_name(MetricType t);  // "counter", "gauge", "histogram"

class Counter {
 public:
  // REQUIRES: v >= 0 (a counter only goes up).
  void inc(double v = 1.0);
  // Mirrors a monotonic count kept elsewhere (e.g. the scheduler's prefix-cache hits) at
  // collection time. REQUIRES: not decreasing, except after the source was reset.
  void set_total(double v) { value_.store(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Gauge {
 public:
  void set(double v) { value_.store(v, std::memory_order_relaxed); }
  void inc(double v = 1.0) { value_.fetch_add(v, std::memory_order_relaxed); }
  void dec(double v = 1.0) { value_.fetch_sub(v, std::memory_order_relaxed); }
  double value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<double> value_{0.0};
};

class Histogram {
 public:
  // REQUIRES: `bounds` strictly increasing and finite (the +Inf bucket is implicit).
  explicit Histogram(std::vector<double> bounds);
  void observe(double v);

  struct Snapshot {
    std::vector<double> bounds;
    std::vector<uint64_t> cumulative;  // bounds.size() + 1 entries; the last is the count
    double sum = 0;
    uint64_t count = 0;
  };
  Snapshot snapshot() const;
  const std::vector<double>& bounds() const { return bounds_; }

 private:
  std::vector<double> bounds_;
  std::unique_ptr<std::atomic<uint64_t>[]> counts_;  // per bucket, not cumulative; +Inf last
  std::atomic<double> sum_{0.0};
};

using LabelValues = std::vector<std::string>;

// One metric family: name, help, label names, and a child per distinct label values.
class Family {
 public:
  Family(std::string name, std::string help, MetricType type, std::vector<std::string> label_names,
         std::vector<double> buckets);

  // The child for `values`, created on first use. REQUIRES: values.size() == label_names().size()
  // and the family's type matches the accessor (checked: a mismatch is a bug and aborts).
  Counter& counter(const LabelValues& values);
  Gauge& gauge(const LabelValues& values);
  Histogram& histogram(const LabelValues& values);

  // Drops one child (e.g. a model that was unloaded) or all of them. References to a dropped
  // child must not be used afterwards.
  void remove(const LabelValues& values);
  void clear();

  const std::string& name() const { return name_; }
  const std::string& help() const { return help_; }
  MetricType type() const { return type_; }
  const std::vector<std::string>& label_names() const { return label_names_; }

  // Calls fn for every child in label order, under the family's mutex.
  struct ChildView {
    const LabelValues* values;
    const Counter* counter;      // set for counters
    const Gauge* gauge;          // set for gauges
    const Histogram* histogram;  // set for histograms
  };
  void for_each(const std::function<void(const ChildView&)>& fn) const;

 private:
  struct Child {
    std::unique_ptr<Counter> counter;
    std::unique_ptr<Gauge> gauge;
    std::unique_ptr<Histogram> histogram;
  };
  Child& child_locked(const LabelValues& values);

  std::string name_;
  std::string help_;
  MetricType type_;
  std::vector<std::string> label_names_;
  std::vector<double> buckets_;
  mutable std::mutex mu_;
  std::map<LabelValues, Child> children_;
};

class MetricRegistry {
 public:
  // Registers a family (or returns the existing one when name, type and label names match;
  // a conflicting re-registration is a bug and aborts). Names must match
  // [a-zA-Z_:][a-zA-Z0-9_:]*, label names [a-zA-Z_][a-zA-Z0-9_]* and not start with "__";
  // histograms must not use the label "le".
  Family& counter(const std::string& name, const std::string& help,
                  std::vector<std::string> label_names = {});
  Family& gauge(const std::string& name, const std::string& help,
                std::vector<std::string> label_names = {});
  Family& histogram(const std::string& name, const std::string& help,
                    std::vector<std::string> label_names, std::vector<double> buckets);

  // A hook run before every collect() (e.g. to copy engine-loop stats into gauges). Runs on the
  // collecting thread, under the registry's collect mutex; it must not call collect().
  void add_collect_hook(std::function<void()> hook);

  // Runs the hooks, then calls fn for every family in registration order.
  void collect(const std::function<void(const Family&)>& fn);

  // Families in registration order (no hooks run).
  std::vector<const Family*> families() const;

 private:
  Family& add(const std::string& name, const std::string& help, MetricType type,
              std::vector<std::string> label_names, std::vector<double> buckets);

  mutable std::mutex mu_;   // guards families_, by_name_, hooks_
  std::mutex collect_mu_;   // one collection at a time
  std::vector<std::unique_ptr<Family>> families_;
  std::map<std::string, Family*> by_name_;
  std::vector<std::function<void()>> hooks_;
};

// Bucket helpers.
std::vector<double> exponential_buckets(double start, double factor, int count);

}  // namespace mlxm::telemetry
