// Audit rows on the wire: JSON objects (API, JSONL export, WebSocket feed) and CSV (RFC 4180:
// a header line, CRLF line ends, fields with a comma, quote, CR or LF quoted with quotes
// doubled; null is an empty field). Numbers print in shortest round-trip form, so an export
// parses back to exactly the stored values. Pure functions, thread-safe.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "store/audit_log.h"

namespace mlxm::api {

nlohmann::json audit_row_json(const store::AuditRow& row);
const std::vector<std::string>& audit_csv_columns();
std::string audit_csv_header();  // the column names line, with CRLF
std::string audit_csv_line(const store::AuditRow& row);  // one record, with CRLF
std::string csv_field(const std::string& s);
nlohmann::json audit_stats_json(const store::AuditStats& stats);

}  // namespace mlxm::api
