# fish completion for zsmgen(1): commands, flags, files, and for --site
# the site names of the configuration file on the command line. Installed
# as /usr/share/fish/vendor_completions.d/zsmgen.fish.

# __zsm_sites_in FILE prints the names of FILE's site blocks.
function __zsm_sites_in
    set -l file (string replace -r '^~' -- $HOME $argv[1])
    test -n "$file" -a -r "$file"; or return 0
    sed -n 's/^[[:space:]]*site[[:space:]]*"\([A-Za-z0-9._-]*\)".*/\1/p' -- $file 2>/dev/null
end

# __zsmgen_file_sites prints the sites of the configuration file on the
# command line: the first word after the command that is neither a flag
# nor a flag's value.
function __zsmgen_file_sites
    set -l words (commandline -opc) (commandline -ct)
    set -l skip 0
    for w in $words[3..-1]
        if test $skip = 1
            set skip 0
        else if contains -- $w --site --zsm --pidfile-dir --log --user --runlevels --out
            set skip 1
        else if not string match -q -- '-*' $w
            __zsm_sites_in $w
            return
        end
    end
end

set -l sysv inittab rc crontab

complete -c zsmgen -n __fish_use_subcommand -f -a check -d 'validate a configuration file'
complete -c zsmgen -n __fish_use_subcommand -f -a units -d 'write systemd user units for its sites'
complete -c zsmgen -n __fish_use_subcommand -f -a fmt -d 'rewrite files in the canonical layout'
complete -c zsmgen -n __fish_use_subcommand -f -a inittab -d 'print /etc/inittab lines for its sites'
complete -c zsmgen -n __fish_use_subcommand -f -a rc -d 'write an LSB init script per site'
complete -c zsmgen -n __fish_use_subcommand -f -a crontab -d 'print crontab lines for its sites'
complete -c zsmgen -n __fish_use_subcommand -f -a version -d "print zsmgen's version"
complete -c zsmgen -n __fish_use_subcommand -f -a help -d 'print the usage'
complete -c zsmgen -n __fish_use_subcommand -f -l version -d "print zsmgen's version"
complete -c zsmgen -n __fish_use_subcommand -f -s h -l help -d 'print the usage'

complete -c zsmgen -n '__fish_seen_subcommand_from units' -l out -x -a '(__fish_complete_directories)' -d 'the unit directory'
complete -c zsmgen -n '__fish_seen_subcommand_from units' -l dry-run -d 'print what would change; change nothing'
complete -c zsmgen -n '__fish_seen_subcommand_from units' -l zsm -r -F -d 'the zsm binary the units run'

complete -c zsmgen -n '__fish_seen_subcommand_from fmt' -l check -d 'change nothing; name the files not formatted'

complete -c zsmgen -n "__fish_seen_subcommand_from $sysv" -l zsm -r -F -d 'the zsm binary'
complete -c zsmgen -n "__fish_seen_subcommand_from $sysv" -l pidfile-dir -x -a '(__fish_complete_directories)' -d 'where the pid files go'
complete -c zsmgen -n "__fish_seen_subcommand_from $sysv" -l site -x -a '(__zsmgen_file_sites)' -d 'only this site'
complete -c zsmgen -n "__fish_seen_subcommand_from $sysv" -l log -r -F -a 'syslog syslog:' -d 'where the brokers log'
complete -c zsmgen -n '__fish_seen_subcommand_from inittab rc' -l user -x -a '(__fish_complete_users)' -d 'the account the brokers run as'
complete -c zsmgen -n '__fish_seen_subcommand_from inittab' -l runlevels -x -d 'the runlevels the brokers run in'
complete -c zsmgen -n '__fish_seen_subcommand_from rc' -l out -x -a '(__fish_complete_directories)' -d 'where the scripts go'
