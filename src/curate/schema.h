// src/curate/schema.h: the project database schema and its migrations (docs/curation.md, "Schema").
#pragma once

#include "project_sqlite.h"
#include "synpref/common/status.h"

namespace synpref::curate {

// Brings the database to kSchemaVersion: creates schema_version when absent, then applies each
// missing migration in order, each in its own transaction together with its version bump (a
// killed migration leaves the previous version, and reruns). A db written by a newer synpref is
// `unsupported`, naming both versions.
Status migrate(sql::Db& db);

// The version recorded in the db (0 = no schema yet).
Result<int> schema_version(sql::Db& db);

}  // namespace synpref::curate
