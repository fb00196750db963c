// Command zsmgen turns a zsm configuration file (docs/config.md) into what
// runs it: systemd user units (`zsmgen units`), after checking it
// (`zsmgen check`); on hosts without systemd, inittab lines, rc scripts or
// crontab lines (`zsmgen inittab`, `zsmgen rc`, `zsmgen crontab`, see
// docs/nosystemd.md).
package main
