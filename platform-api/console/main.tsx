/** The console's entry point, bundled by scripts/build-console.ts into /console/app.js. */
import { render } from 'preact';
import { App } from './app';
import './styles.css';

render(<App />, document.getElementById('app')!);
