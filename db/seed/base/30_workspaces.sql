-- Project templates (project_templates): four small but working starters. Idempotent:
-- inserted by slug, updated only when this file describes a template differently; is_active
-- is left to the operator once a template exists.
--
-- files maps a relative path to its content; default_config gives the container image,
-- ports and commands the platform uses for a new project.

INSERT INTO agentbase.project_templates AS t
    (slug, name, description, language, framework, files, setup_commands, default_config, sort_order)
VALUES
-- ------------------------------------------------------------------------------------
('react-typescript', 'React + TypeScript',
 'Single-page app with React 18, TypeScript and Vite.',
 'typescript', 'react',
 jsonb_build_object(
  '.gitignore', $f$node_modules/
dist/
*.log
$f$,
  'package.json', $f${
  "name": "react-typescript-app",
  "private": true,
  "version": "0.1.0",
  "type": "module",
  "scripts": {
    "dev": "vite",
    "build": "tsc -b && vite build",
    "preview": "vite preview"
  },
  "dependencies": {
    "react": "^18.3.1",
    "react-dom": "^18.3.1"
  },
  "devDependencies": {
    "@types/react": "^18.3.3",
    "@types/react-dom": "^18.3.0",
    "@vitejs/plugin-react": "^4.3.1",
    "typescript": "^5.5.3",
    "vite": "^5.4.0"
  }
}
$f$,
  'tsconfig.json', $f${
  "compilerOptions": {
    "target": "ES2020",
    "lib": ["ES2020", "DOM", "DOM.Iterable"],
    "module": "ESNext",
    "moduleResolution": "bundler",
    "jsx": "react-jsx",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src"]
}
$f$,
  'vite.config.ts', $f$import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  server: { host: '0.0.0.0', port: 5173 },
});
$f$,
  'index.html', $f$<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <meta name="viewport" content="width=device-width, initial-scale=1.0" />
    <title>React + TypeScript</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
$f$,
  'src/main.tsx', $f$import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import App from './App';

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
$f$,
  'src/App.tsx', $f$import { useState } from 'react';

export default function App() {
  const [count, setCount] = useState(0);
  return (
    <main style={{ fontFamily: 'system-ui', padding: '2rem' }}>
      <h1>Hello from React + TypeScript</h1>
      <button onClick={() => setCount((c) => c + 1)}>clicked {count} times</button>
    </main>
  );
}
$f$),
 ARRAY['npm install'],
 '{"image": "node:20-bookworm", "dev_command": "npm run dev", "build_command": "npm run build",
   "ports": [{"container_port": 5173, "protocol": "http", "public": true}],
   "cpu_limit": 1, "memory_limit_mb": 2048, "disk_limit_mb": 10240}'::jsonb,
 10),

-- ------------------------------------------------------------------------------------
('nextjs-typescript', 'Next.js + TypeScript',
 'Next.js 14 app router project in TypeScript.',
 'typescript', 'nextjs',
 jsonb_build_object(
  '.gitignore', $f$node_modules/
.next/
out/
*.log
$f$,
  'package.json', $f${
  "name": "nextjs-typescript-app",
  "private": true,
  "version": "0.1.0",
  "scripts": {
    "dev": "next dev -H 0.0.0.0 -p 3000",
    "build": "next build",
    "start": "next start -p 3000"
  },
  "dependencies": {
    "next": "^14.2.5",
    "react": "^18.3.1",
    "react-dom": "^18.3.1"
  },
  "devDependencies": {
    "@types/node": "^20.14.0",
    "@types/react": "^18.3.3",
    "@types/react-dom": "^18.3.0",
    "typescript": "^5.5.3"
  }
}
$f$,
  'tsconfig.json', $f${
  "compilerOptions": {
    "target": "ES2017",
    "lib": ["dom", "dom.iterable", "esnext"],
    "allowJs": false,
    "skipLibCheck": true,
    "strict": true,
    "noEmit": true,
    "esModuleInterop": true,
    "module": "esnext",
    "moduleResolution": "bundler",
    "resolveJsonModule": true,
    "isolatedModules": true,
    "jsx": "preserve",
    "incremental": true,
    "plugins": [{ "name": "next" }]
  },
  "include": ["next-env.d.ts", "**/*.ts", "**/*.tsx", ".next/types/**/*.ts"],
  "exclude": ["node_modules"]
}
$f$,
  'next-env.d.ts', $f$/// <reference types="next" />
/// <reference types="next/image-types/global" />
$f$,
  'next.config.mjs', $f$/** @type {import('next').NextConfig} */
const nextConfig = {};

export default nextConfig;
$f$,
  'app/layout.tsx', $f$import type { ReactNode } from 'react';

export const metadata = { title: 'Next.js + TypeScript' };

export default function RootLayout({ children }: { children: ReactNode }) {
  return (
    <html lang="en">
      <body>{children}</body>
    </html>
  );
}
$f$,
  'app/page.tsx', $f$export default function Home() {
  return (
    <main style={{ fontFamily: 'system-ui', padding: '2rem' }}>
      <h1>Hello from Next.js</h1>
      <p>Edit app/page.tsx and save to see the change.</p>
    </main>
  );
}
$f$),
 ARRAY['npm install'],
 '{"image": "node:20-bookworm", "dev_command": "npm run dev", "build_command": "npm run build",
   "ports": [{"container_port": 3000, "protocol": "http", "public": true}],
   "cpu_limit": 1, "memory_limit_mb": 2048, "disk_limit_mb": 10240}'::jsonb,
 20),

-- ------------------------------------------------------------------------------------
('python-fastapi', 'Python FastAPI',
 'REST API with FastAPI, uvicorn and a pytest test.',
 'python', 'fastapi',
 jsonb_build_object(
  '.gitignore', $f$__pycache__/
*.pyc
.venv/
.pytest_cache/
$f$,
  'requirements.txt', $f$fastapi>=0.111
uvicorn[standard]>=0.30
httpx>=0.27
pytest>=8.2
$f$,
  'app/__init__.py', '',
  'app/main.py', $f$from fastapi import FastAPI
from pydantic import BaseModel

app = FastAPI(title="FastAPI starter")


class Item(BaseModel):
    name: str
    price: float


items: dict[int, Item] = {}


@app.get("/health")
def health() -> dict[str, str]:
    return {"status": "ok"}


@app.post("/items/{item_id}", status_code=201)
def create_item(item_id: int, item: Item) -> Item:
    items[item_id] = item
    return item


@app.get("/items/{item_id}")
def read_item(item_id: int) -> Item:
    return items[item_id]
$f$,
  'tests/test_main.py', $f$from fastapi.testclient import TestClient

from app.main import app

client = TestClient(app)


def test_health() -> None:
    response = client.get("/health")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_item_roundtrip() -> None:
    assert client.post("/items/1", json={"name": "tea", "price": 2.5}).status_code == 201
    assert client.get("/items/1").json() == {"name": "tea", "price": 2.5}
$f$),
 ARRAY['python -m venv .venv', '.venv/bin/pip install -r requirements.txt'],
 '{"image": "python:3.12-bookworm",
   "dev_command": ".venv/bin/uvicorn app.main:app --reload --host 0.0.0.0 --port 8000",
   "test_command": ".venv/bin/pytest -q",
   "ports": [{"container_port": 8000, "protocol": "http", "public": true}],
   "cpu_limit": 1, "memory_limit_mb": 1024, "disk_limit_mb": 5120}'::jsonb,
 30),

-- ------------------------------------------------------------------------------------
('fullstack-react-fastapi', 'Full stack: React + FastAPI',
 'React/TypeScript front end (Vite) calling a FastAPI back end through the /api proxy.',
 'typescript', 'react+fastapi',
 jsonb_build_object(
  'README.md', $f$# React + FastAPI

- `backend/`: FastAPI on port 8000 (`uvicorn app.main:app --reload`)
- `frontend/`: Vite dev server on port 5173; requests to `/api` go to the back end.
$f$,
  '.gitignore', $f$node_modules/
dist/
__pycache__/
.venv/
$f$,
  'backend/requirements.txt', $f$fastapi>=0.111
uvicorn[standard]>=0.30
$f$,
  'backend/app/__init__.py', '',
  'backend/app/main.py', $f$from fastapi import FastAPI

app = FastAPI(title="backend")


@app.get("/api/hello")
def hello(name: str = "world") -> dict[str, str]:
    return {"message": f"Hello, {name}!"}
$f$,
  'frontend/package.json', $f${
  "name": "frontend",
  "private": true,
  "version": "0.1.0",
  "type": "module",
  "scripts": {
    "dev": "vite",
    "build": "tsc -b && vite build"
  },
  "dependencies": {
    "react": "^18.3.1",
    "react-dom": "^18.3.1"
  },
  "devDependencies": {
    "@types/react": "^18.3.3",
    "@types/react-dom": "^18.3.0",
    "@vitejs/plugin-react": "^4.3.1",
    "typescript": "^5.5.3",
    "vite": "^5.4.0"
  }
}
$f$,
  'frontend/tsconfig.json', $f${
  "compilerOptions": {
    "target": "ES2020",
    "lib": ["ES2020", "DOM", "DOM.Iterable"],
    "module": "ESNext",
    "moduleResolution": "bundler",
    "jsx": "react-jsx",
    "strict": true,
    "noEmit": true,
    "skipLibCheck": true
  },
  "include": ["src"]
}
$f$,
  'frontend/vite.config.ts', $f$import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

export default defineConfig({
  plugins: [react()],
  server: {
    host: '0.0.0.0',
    port: 5173,
    proxy: { '/api': 'http://127.0.0.1:8000' },
  },
});
$f$,
  'frontend/index.html', $f$<!doctype html>
<html lang="en">
  <head>
    <meta charset="UTF-8" />
    <title>React + FastAPI</title>
  </head>
  <body>
    <div id="root"></div>
    <script type="module" src="/src/main.tsx"></script>
  </body>
</html>
$f$,
  'frontend/src/main.tsx', $f$import { createRoot } from 'react-dom/client';
import App from './App';

createRoot(document.getElementById('root')!).render(<App />);
$f$,
  'frontend/src/App.tsx', $f$import { useEffect, useState } from 'react';

export default function App() {
  const [message, setMessage] = useState('loading...');
  useEffect(() => {
    fetch('/api/hello?name=agentbase')
      .then((r) => r.json())
      .then((body: { message: string }) => setMessage(body.message))
      .catch(() => setMessage('back end not reachable'));
  }, []);
  return <h1 style={{ fontFamily: 'system-ui' }}>{message}</h1>;
}
$f$),
 ARRAY['cd backend && python -m venv .venv && .venv/bin/pip install -r requirements.txt',
       'cd frontend && npm install'],
 '{"image": "nikolaik/python-nodejs:python3.12-nodejs20",
   "dev_commands": ["cd backend && .venv/bin/uvicorn app.main:app --reload --host 0.0.0.0 --port 8000",
                    "cd frontend && npm run dev"],
   "ports": [{"container_port": 5173, "protocol": "http", "public": true},
             {"container_port": 8000, "protocol": "http", "public": false}],
   "cpu_limit": 2, "memory_limit_mb": 4096, "disk_limit_mb": 10240}'::jsonb,
 40)
ON CONFLICT (slug) DO UPDATE
   SET name = EXCLUDED.name, description = EXCLUDED.description, language = EXCLUDED.language,
       framework = EXCLUDED.framework, files = EXCLUDED.files,
       setup_commands = EXCLUDED.setup_commands, default_config = EXCLUDED.default_config,
       sort_order = EXCLUDED.sort_order
 WHERE (t.name, t.description, t.language, t.framework, t.files, t.setup_commands,
        t.default_config, t.sort_order)
       IS DISTINCT FROM
       (EXCLUDED.name, EXCLUDED.description, EXCLUDED.language, EXCLUDED.framework,
        EXCLUDED.files, EXCLUDED.setup_commands, EXCLUDED.default_config, EXCLUDED.sort_order);
