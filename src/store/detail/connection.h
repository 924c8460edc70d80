// Internal to store/: the SQLiteCpp connection behind a Database, and the exception-to-Status
// edge. Nothing outside src/store includes this.
#pragma once

#include <SQLiteCpp/SQLiteCpp.h>
#include <sqlite3.h>

#include <exception>
#include <string>
#include <utility>

#include "core/status.h"

namespace mlxm::store::detail {

struct Connection {
  template <class... Args>
  explicit Connection(Args&&... args) : db(std::forward<Args>(args)...) {}
  SQLite::Database db;
};

// Runs fn (which may throw SQLite::Exception) and turns exceptions into a Status naming `what`.
template <class Fn>
Status guarded(const std::string& what, Fn&& fn) {
  try {
    fn();
    return ok_status();
  } catch (const SQLite::Exception& e) {
    const int code = e.getErrorCode() & 0xff;
    if (code == SQLITE_BUSY || code == SQLITE_LOCKED) {
      return unavailable(what + ": database is busy: " + e.what());
    }
    if (code == SQLITE_FULL || code == SQLITE_IOERR) {
      return resource_exhausted(what + ": " + e.what());
    }
    if (code == SQLITE_CORRUPT || code == SQLITE_NOTADB) return data_loss(what + ": " + e.what());
    return internal_error(what + ": " + e.what());
  } catch (const std::exception& e) {
    return internal_error(what + ": " + e.what());
  }
}

}  // namespace mlxm::store::detail
