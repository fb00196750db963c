# fish completion for zsm(1): commands, flags, and site names (those of
# the file given with --config, else $ZSM_CONFIG, for serve; those running
# on this host for reload, status and drain). Installed as
# /usr/share/fish/vendor_completions.d/zsm.fish.

# __zsm_sites_in FILE prints the names of FILE's site blocks.
function __zsm_sites_in
    set -l file (string replace -r '^~' -- $HOME $argv[1])
    test -n "$file" -a -r "$file"; or return 0
    sed -n 's/^[[:space:]]*site[[:space:]]*"\([A-Za-z0-9._-]*\)".*/\1/p' -- $file 2>/dev/null
end

# __zsm_config_sites prints the sites of serve's --config, else of $ZSM_CONFIG.
function __zsm_config_sites
    set -l words (commandline -opc)
    set -l file $ZSM_CONFIG
    for i in (seq (math (count $words) - 1))
        test "$words[$i]" = --config; and set file $words[(math $i + 1)]
    end
    __zsm_sites_in $file
end

# __zsm_running_sites prints the sites whose broker has a control socket.
function __zsm_running_sites
    set -l dir $XDG_RUNTIME_DIR
    test -n "$dir"; or set dir /tmp/zsm-(id -u)
    for f in $dir/zsm/*.control
        test -S $f; and basename $f .control
    end
end

complete -c zsm -f
complete -c zsm -n __fish_use_subcommand -a serve -d "run one site's broker"
complete -c zsm -n __fish_use_subcommand -a reload -d 'reload a running site without refusing a connection'
complete -c zsm -n __fish_use_subcommand -a status -d 'every running site, or one in detail'
complete -c zsm -n __fish_use_subcommand -a drain -d "stop a site's workers gracefully"
complete -c zsm -n __fish_use_subcommand -a version -d "print zsm's version"
complete -c zsm -n __fish_use_subcommand -a help -d 'print the usage'
complete -c zsm -n __fish_use_subcommand -l version -d "print zsm's version"
complete -c zsm -n __fish_use_subcommand -s h -l help -d 'print the usage'

complete -c zsm -n '__fish_seen_subcommand_from serve' -l site -x -a '(__zsm_config_sites)' -d 'the site to run'
complete -c zsm -n '__fish_seen_subcommand_from serve' -l config -r -F -d 'the configuration file'
complete -c zsm -n '__fish_seen_subcommand_from serve' -l pidfile -r -F -d 'keep a pid file'
complete -c zsm -n '__fish_seen_subcommand_from serve' -l if-stopped -d 'with --pidfile, exit 0 when a broker runs'
complete -c zsm -n '__fish_seen_subcommand_from serve' -l daemon -d 'detach, and return once the broker is up'
complete -c zsm -n '__fish_seen_subcommand_from serve' -l log -r -F -a 'auto journal stderr syslog syslog:' -d 'where the log goes'

complete -c zsm -n '__fish_seen_subcommand_from reload' -l site -x -a '(__zsm_running_sites)' -d 'the site to reload'
complete -c zsm -n '__fish_seen_subcommand_from reload' -l wait -d 'wait for the outcome'

complete -c zsm -n '__fish_seen_subcommand_from status' -l json -d 'print JSON'
complete -c zsm -n '__fish_seen_subcommand_from status' -l serve -x -d 'serve a status page of every site'
complete -c zsm -n '__fish_seen_subcommand_from status drain' -a '(__zsm_running_sites)' -d 'running site'
