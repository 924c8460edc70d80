// A small, strict parser of the Prometheus text exposition format 0.0.4, for tests: it rejects
// anything a real Prometheus server would reject (bad names, bad escapes, duplicate series,
// TYPE after samples, families split in two, non-cumulative or incomplete histograms, a _count
// that disagrees with the +Inf bucket, negative counters). Header-only; used by the telemetry
// unit tests and the /metrics e2e test.
#pragma once

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <vector>

namespace mlxm::testing {

struct PromSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct PromFamily {
  std::string type = "untyped";
  std::string help;
  std::vector<PromSample> samples;
};

struct PromParse {
  std::map<std::string, PromFamily> families;
  std::string error;  // empty on success
  bool ok() const { return error.empty(); }

  // The value of the one sample `name` with exactly these labels; NaN when absent.
  double value(const std::string& name, const std::map<std::string, std::string>& labels) const {
    for (const auto& [_, f] : families) {
      for (const auto& s : f.samples) {
        if (s.name == name && s.labels == labels) return s.value;
      }
    }
    return std::nan("");
  }
};

namespace prom_detail {

inline bool name_char(char c, bool first, bool colon) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || (colon && c == ':') ||
         (!first && c >= '0' && c <= '9');
}

inline bool valid_name(const std::string& s, bool colon) {
  if (s.empty()) return false;
  for (size_t i = 0; i < s.size(); ++i) {
    if (!name_char(s[i], i == 0, colon)) return false;
  }
  return true;
}

inline bool parse_value(const std::string& s, double* out) {
  if (s == "+Inf" || s == "Inf") return *out = INFINITY, true;
  if (s == "-Inf") return *out = -INFINITY, true;
  if (s == "NaN") return *out = NAN, true;
  if (s.empty()) return false;
  char* end = nullptr;
  *out = std::strtod(s.c_str(), &end);
  return end == s.c_str() + s.size() && std::isfinite(*out);
}

// The family a sample belongs to, given the declared types.
inline std::string family_of(const std::string& name, const std::map<std::string, PromFamily>& fams) {
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    std::string sfx = suffix;
    if (name.size() > sfx.size() && name.compare(name.size() - sfx.size(), sfx.size(), sfx) == 0) {
      std::string base = name.substr(0, name.size() - sfx.size());
      auto it = fams.find(base);
      if (it != fams.end() && (it->second.type == "histogram" || it->second.type == "summary")) {
        return base;
      }
    }
  }
  return name;
}

}  // namespace prom_detail

inline PromParse parse_prometheus_text(const std::string& text) {
  using namespace prom_detail;
  PromParse out;
  auto fail = [&](size_t line_no, const std::string& why) {
    out.error = "line " + std::to_string(line_no) + ": " + why;
    return out;
  };
  if (!text.empty() && text.back() != '\n') return fail(0, "the text does not end with a newline");
  std::set<std::string> typed, finished;
  std::set<std::string> series_seen;
  std::string current;  // family of the previous sample
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t nl = text.find('\n', pos);
    std::string line = text.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    if (line.empty()) continue;
    if (line[0] == '#') {
      if (line.rfind("# HELP ", 0) == 0 || line.rfind("# TYPE ", 0) == 0) {
        bool is_type = line[2] == 'T';
        std::string rest = line.substr(7);
        size_t sp = rest.find(' ');
        std::string name = rest.substr(0, sp);
        std::string arg = sp == std::string::npos ? "" : rest.substr(sp + 1);
        if (!valid_name(name, true)) return fail(line_no, "bad metric name '" + name + "'");
        if (finished.count(name) || (current == name)) {
          return fail(line_no, "HELP/TYPE for '" + name + "' after its samples");
        }
        if (!current.empty()) finished.insert(current);
        current.clear();
        PromFamily& f = out.families[name];
        if (is_type) {
          if (typed.count(name)) return fail(line_no, "second TYPE line for " + name);
          if (arg != "counter" && arg != "gauge" && arg != "histogram" && arg != "summary" &&
              arg != "untyped") {
            return fail(line_no, "unknown type '" + arg + "'");
          }
          typed.insert(name);
          f.type = arg;
        } else {
          for (size_t i = 0; i < arg.size(); ++i) {
            if (arg[i] == '\\') {
              if (i + 1 >= arg.size() || (arg[i + 1] != '\\' && arg[i + 1] != 'n')) {
                return fail(line_no, "bad escape in HELP");
              }
              ++i;
            }
          }
          f.help = arg;
        }
      }
      continue;  // other comments are allowed
    }
    // A sample: name [{labels}] value [timestamp]
    size_t i = 0;
    while (i < line.size() && name_char(line[i], i == 0, true)) ++i;
    PromSample s;
    s.name = line.substr(0, i);
    if (!valid_name(s.name, true)) return fail(line_no, "bad sample name");
    if (i < line.size() && line[i] == '{') {
      ++i;
      while (true) {
        if (i < line.size() && line[i] == '}') {
          ++i;
          break;
        }
        size_t j = i;
        while (j < line.size() && name_char(line[j], j == i, false)) ++j;
        std::string lname = line.substr(i, j - i);
        if (!valid_name(lname, false)) return fail(line_no, "bad label name");
        if (j + 1 >= line.size() || line[j] != '=' || line[j + 1] != '"') {
          return fail(line_no, "expected =\" after label " + lname);
        }
        j += 2;
        std::string v;
        bool closed = false;
        while (j < line.size()) {
          char c = line[j];
          if (c == '\\') {
            if (j + 1 >= line.size()) return fail(line_no, "dangling escape");
            char e = line[j + 1];
            if (e == '\\') v += '\\';
            else if (e == '"') v += '"';
            else if (e == 'n') v += '\n';
            else return fail(line_no, "bad escape in label value");
            j += 2;
          } else if (c == '"') {
            closed = true;
            ++j;
            break;
          } else {
            v += c;
            ++j;
          }
        }
        if (!closed) return fail(line_no, "unterminated label value");
        if (s.labels.count(lname)) return fail(line_no, "duplicate label " + lname);
        s.labels[lname] = v;
        if (j < line.size() && line[j] == ',') ++j;
        else if (j >= line.size() || line[j] != '}') return fail(line_no, "expected , or }");
        i = j;
      }
    }
    if (i >= line.size() || line[i] != ' ') return fail(line_no, "expected a space before the value");
    std::string rest = line.substr(i + 1);
    size_t sp = rest.find(' ');
    std::string vtext = rest.substr(0, sp);
    if (!parse_value(vtext, &s.value)) return fail(line_no, "bad value '" + vtext + "'");
    if (sp != std::string::npos) {
      std::string ts = rest.substr(sp + 1);
      char* end = nullptr;
      (void)std::strtoll(ts.c_str(), &end, 10);
      if (ts.empty() || end != ts.c_str() + ts.size()) return fail(line_no, "bad timestamp");
    }
    std::string fam = family_of(s.name, out.families);
    if (fam != current) {
      if (finished.count(fam)) return fail(line_no, "family '" + fam + "' split in two groups");
      if (!current.empty()) finished.insert(current);
      current = fam;
    }
    PromFamily& f = out.families[fam];
    if ((f.type == "counter" || f.type == "gauge") && s.name != fam) {
      return fail(line_no, "sample '" + s.name + "' in " + f.type + " family " + fam);
    }
    if (f.type == "counter" && !(s.value >= 0)) return fail(line_no, "negative counter");
    if (f.type == "histogram" && s.name == fam + "_bucket" && !s.labels.count("le")) {
      return fail(line_no, "bucket without le");
    }
    std::string key = s.name;
    for (const auto& [k, v] : s.labels) key += "\x01" + k + "\x02" + v;
    if (!series_seen.insert(key).second) return fail(line_no, "duplicate series " + s.name);
    f.samples.push_back(std::move(s));
  }
  // Histogram consistency per label set.
  for (const auto& [name, f] : out.families) {
    if (f.type != "histogram") continue;
    std::map<std::map<std::string, std::string>, std::vector<std::pair<double, double>>> buckets;
    std::map<std::map<std::string, std::string>, double> counts;
    std::set<std::map<std::string, std::string>> sums;
    for (const auto& s : f.samples) {
      auto labels = s.labels;
      if (s.name == name + "_bucket") {
        double le = 0;
        if (!parse_value(labels["le"], &le)) return fail(0, name + ": bad le");
        labels.erase("le");
        buckets[labels].push_back({le, s.value});
      } else if (s.name == name + "_count") {
        counts[labels] = s.value;
      } else if (s.name == name + "_sum") {
        sums.insert(labels);
      } else {
        return fail(0, name + ": unexpected sample " + s.name);
      }
    }
    for (const auto& [labels, bs] : buckets) {
      for (size_t k = 1; k < bs.size(); ++k) {
        if (!(bs[k].first > bs[k - 1].first)) return fail(0, name + ": le not increasing");
        if (bs[k].second < bs[k - 1].second) return fail(0, name + ": buckets not cumulative");
      }
      if (bs.empty() || !std::isinf(bs.back().first)) return fail(0, name + ": no +Inf bucket");
      if (!counts.count(labels) || counts[labels] != bs.back().second) {
        return fail(0, name + ": _count differs from the +Inf bucket");
      }
      if (!sums.count(labels)) return fail(0, name + ": no _sum");
    }
    if (counts.size() != buckets.size()) return fail(0, name + ": _count without buckets");
  }
  return out;
}

}  // namespace mlxm::testing
