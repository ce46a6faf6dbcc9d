_outscale_cli_completion() {
    local IFS=$'
'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _OUTSCALE_CLI_COMPLETE=complete_bash $1 ) )
    return 0
}

complete -o default -F _outscale_cli_completion outscale-cli
