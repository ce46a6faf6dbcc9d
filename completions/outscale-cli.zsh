#compdef outscale-cli

_outscale_cli_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _OUTSCALE_CLI_COMPLETE=complete_zsh outscale-cli)
}

compdef _outscale_cli_completion outscale-cli
